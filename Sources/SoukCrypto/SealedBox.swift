import CSodium

/// Anonymous public-key encryption to a node's identity (`crypto_box_seal`, X25519 +
/// XSalsa20-Poly1305 with an ephemeral sender key): anyone can seal to a node id, only that node
/// can open, and the ciphertext does not say who sealed it. The recipient's X25519 key is derived
/// from its Ed25519 identity (`crypto_sign_ed25519_pk_to_curve25519`), so no second key is published.
public enum SealedBox {
    /// Bytes a sealed box adds to its plaintext (ephemeral public key and tag).
    public static let overhead = 48

    /// Seals `plaintext` to the holder of the Ed25519 key `recipient`.
    /// - Throws: `CryptoError` for a key that is not a valid Ed25519 point.
    public static func seal(_ plaintext: [UInt8], to recipient: [UInt8]) throws -> [UInt8] {
        Sodium.ensureInitialized()
        guard recipient.count == Ed25519.publicKeyBytes else {
            throw CryptoError.invalidLength(
                what: "Ed25519 public key", expected: Ed25519.publicKeyBytes, actual: recipient.count)
        }
        var curve = [UInt8](repeating: 0, count: 32)
        guard crypto_sign_ed25519_pk_to_curve25519(&curve, recipient) == 0 else {
            throw CryptoError.operationFailed("the recipient key is not a valid Ed25519 public key")
        }
        var out = [UInt8](repeating: 0, count: plaintext.count + overhead)
        let rc = plaintext.withUnsafeBufferPointer { p in
            crypto_box_seal(&out, p.baseAddress, UInt64(p.count), curve)
        }
        guard rc == 0 else { throw CryptoError.operationFailed("crypto_box_seal") }
        return out
    }
}

extension SigningKey {
    /// Opens a box sealed to this identity. - Throws: `CryptoError.authenticationFailed` when it
    /// was not sealed to this key or was altered.
    public func openSealed(_ ciphertext: [UInt8]) throws -> [UInt8] {
        guard ciphertext.count >= SealedBox.overhead else { throw CryptoError.authenticationFailed }
        var curvePublic = [UInt8](repeating: 0, count: 32)
        var curveSecret = [UInt8](repeating: 0, count: 32)
        defer { sodium_memzero(&curveSecret, 32) }
        guard crypto_sign_ed25519_pk_to_curve25519(&curvePublic, publicKey) == 0,
            crypto_sign_ed25519_sk_to_curve25519(&curveSecret, secretKeyBytes) == 0
        else { throw CryptoError.operationFailed("identity key conversion") }
        var out = [UInt8](repeating: 0, count: ciphertext.count - SealedBox.overhead)
        let rc = ciphertext.withUnsafeBufferPointer { c in
            crypto_box_seal_open(&out, c.baseAddress!, UInt64(c.count), curvePublic, curveSecret)
        }
        guard rc == 0 else { throw CryptoError.authenticationFailed }
        return out
    }
}
