import Foundation
import SoukCrypto

/// HTTP Basic credentials checked against the cookie the daemon wrote (`__cookie__:<secret>`).
public struct RPCAuth: Sendable {
    private let expected: [UInt8]

    /// - Parameter credentials: the full `user:password` line, e.g. the cookie file's content.
    public init(credentials: String) {
        expected = Array(credentials.utf8)
    }

    /// The `Authorization` header value a client sends.
    public static func header(credentials: String) -> String {
        "Basic " + Data(credentials.utf8).base64EncodedString()
    }

    /// True only for `Basic <base64 of the expected credentials>`; compared in constant time.
    public func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces))
        else { return false }
        return constantTimeEqual([UInt8](decoded), expected)
    }
}
