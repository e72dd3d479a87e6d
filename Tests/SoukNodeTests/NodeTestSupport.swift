import Foundation
import Logging
import SoukCrypto

/// Helpers shared by the SoukNode tests.
enum NodeFixture {
    /// Argon2id at libsodium's minimum cost, so encrypted key files take milliseconds in tests.
    static let fastKDF = SecretBox.KDFParameters(opsLimit: 1, memLimit: 8192)

    /// A fixed instant in 2025; every timestamp in the node tests is relative to it.
    static let start: UInt64 = 1_750_000_000

    /// A deterministic key; different `n` give different keys.
    static func key(_ n: UInt8) -> SigningKey {
        try! SigningKey(seed: [UInt8](repeating: n, count: 32))
    }

    /// A logger that drops everything, so test output stays readable.
    static let quietLogger = Logger(label: "souk.tests") { _ in SwiftLogNoOpLogHandler() }

    /// A fresh empty directory under the system temp directory; the caller removes it.
    static func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("souk-node-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// The permission bits of a file, e.g. `0o600`.
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
    }

    /// The same hex string with the first byte's lowest bit flipped.
    static func flipFirstBit(_ hex: String) -> String {
        var bytes = Hex.decode(hex)!
        bytes[0] ^= 0x01
        return Hex.encode(bytes)
    }
}

/// A clock tests move by hand; `MarketNode` reads it through `function`.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64

    init(_ start: UInt64) { value = start }

    var now: UInt64 { lock.withLock { value } }

    func advance(by seconds: UInt64) { lock.withLock { value += seconds } }

    var function: @Sendable () -> UInt64 { { [self] in self.now } }
}
