import CSodium

/// X25519 Diffie-Hellman (RFC 7748) for the peer handshake's ephemeral keys.
public struct X25519KeyPair: Sendable {
    public static let keyBytes = 32
    public let publicKey: [UInt8]
    private let secretKey: [UInt8]

    /// A fresh ephemeral key pair.
    public static func generate() -> X25519KeyPair {
        try! X25519KeyPair(secretKey: secureRandomBytes(keyBytes))
    }

    /// A key pair from a fixed 32-byte secret (test vectors).
    public init(secretKey: [UInt8]) throws {
        Sodium.ensureInitialized()
        guard secretKey.count == Self.keyBytes else {
            throw CryptoError.invalidLength(what: "X25519 secret key", expected: Self.keyBytes, actual: secretKey.count)
        }
        var pk = [UInt8](repeating: 0, count: Self.keyBytes)
        guard crypto_scalarmult_curve25519_base(&pk, secretKey) == 0 else {
            throw CryptoError.operationFailed("crypto_scalarmult_curve25519_base")
        }
        self.secretKey = secretKey
        self.publicKey = pk
    }

    /// The shared secret with `peerPublicKey`.
    /// - Throws: `CryptoError.operationFailed` for a low-order peer key (an all-zero result).
    public func sharedSecret(with peerPublicKey: [UInt8]) throws -> [UInt8] {
        guard peerPublicKey.count == Self.keyBytes else {
            throw CryptoError.invalidLength(
                what: "X25519 public key", expected: Self.keyBytes, actual: peerPublicKey.count)
        }
        var out = [UInt8](repeating: 0, count: Self.keyBytes)
        guard crypto_scalarmult_curve25519(&out, secretKey, peerPublicKey) == 0 else {
            throw CryptoError.operationFailed("X25519 with a low-order public key")
        }
        return out
    }
}
