import CSodium

/// Ed25519 signatures (RFC 8032) through libsodium.
public enum Ed25519 {
    public static let publicKeyBytes = 32
    public static let secretKeyBytes = 64
    public static let seedBytes = 32
    public static let signatureBytes = 64

    /// Verifies a detached signature.
    /// - Parameters:
    ///   - signature: 64 bytes.
    ///   - message: the exact signed bytes.
    ///   - publicKey: 32 bytes.
    /// - Returns: `true` only for a valid signature; wrong lengths are simply invalid.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ensureInitialized()
        guard signature.count == signatureBytes, publicKey.count == publicKeyBytes else { return false }
        return signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                publicKey.withUnsafeBufferPointer { pk in
                    crypto_sign_verify_detached(sig.baseAddress!, msg.baseAddress, UInt64(msg.count), pk.baseAddress!)
                        == 0
                }
            }
        }
    }
}

/// An Ed25519 key pair. The secret part never appears in `description` or logs.
public struct SigningKey: Sendable, CustomStringConvertible {
    /// The 32-byte seed from which libsodium derives the key pair.
    public let seed: [UInt8]
    /// The 32-byte public key.
    public let publicKey: [UInt8]
    private let secretKey: [UInt8]
    /// The 64-byte libsodium secret key, for conversions inside this module only.
    var secretKeyBytes: [UInt8] { secretKey }

    /// Derives the key pair from a 32-byte seed (RFC 8032 "private key").
    /// - Throws: `CryptoError.invalidLength` when the seed is not 32 bytes.
    public init(seed: [UInt8]) throws {
        Sodium.ensureInitialized()
        guard seed.count == Ed25519.seedBytes else {
            throw CryptoError.invalidLength(what: "Ed25519 seed", expected: Ed25519.seedBytes, actual: seed.count)
        }
        var pk = [UInt8](repeating: 0, count: Ed25519.publicKeyBytes)
        var sk = [UInt8](repeating: 0, count: Ed25519.secretKeyBytes)
        let rc = crypto_sign_seed_keypair(&pk, &sk, seed)
        guard rc == 0 else { throw CryptoError.operationFailed("crypto_sign_seed_keypair") }
        self.seed = seed
        self.publicKey = pk
        self.secretKey = sk
    }

    /// A fresh key pair from the system CSPRNG.
    public static func generate() -> SigningKey {
        // A 32-byte seed always derives a key pair.
        try! SigningKey(seed: secureRandomBytes(Ed25519.seedBytes))
    }

    /// Signs `message` and returns the 64-byte detached signature.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Ed25519.signatureBytes)
        var sigLen: UInt64 = 0
        _ = message.withUnsafeBufferPointer { msg in
            crypto_sign_detached(&sig, &sigLen, msg.baseAddress, UInt64(msg.count), secretKey)
        }
        return sig
    }

    public var description: String { "SigningKey(public: \(Hex.encode(publicKey)))" }
}
