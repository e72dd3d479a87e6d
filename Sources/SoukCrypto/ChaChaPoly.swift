import CSodium

/// ChaCha20-Poly1305 (IETF, RFC 8439) with a 96-bit nonce: the peer link's frame cipher.
public enum ChaChaPoly {
    public static let keyBytes = 32
    public static let nonceBytes = 12
    public static let tagBytes = 16

    /// The nonce for message number `counter`: four zero bytes then the counter, little-endian.
    public static func nonce(counter: UInt64) -> [UInt8] {
        var n = [UInt8](repeating: 0, count: nonceBytes)
        for i in 0..<8 { n[4 + i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(i))) }
        return n
    }

    public static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        Sodium.ensureInitialized()
        try check(key: key, nonce: nonce)
        var out = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var outLen: UInt64 = 0
        let message = plaintext.isEmpty ? [0] : plaintext
        let rc = message.withUnsafeBufferPointer { p in
            ad.withUnsafeBufferPointer { a in
                crypto_aead_chacha20poly1305_ietf_encrypt(
                    &out, &outLen, p.baseAddress!, UInt64(plaintext.count), a.baseAddress, UInt64(a.count), nil,
                    nonce, key)
            }
        }
        guard rc == 0 else { throw CryptoError.operationFailed("chacha20poly1305 encrypt") }
        return out
    }

    public static func open(_ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        Sodium.ensureInitialized()
        try check(key: key, nonce: nonce)
        guard ciphertext.count >= tagBytes else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagBytes)
        var outLen: UInt64 = 0
        let rc = ciphertext.withUnsafeBufferPointer { c in
            ad.withUnsafeBufferPointer { a in
                crypto_aead_chacha20poly1305_ietf_decrypt(
                    &out, &outLen, nil, c.baseAddress!, UInt64(c.count), a.baseAddress, UInt64(a.count), nonce, key)
            }
        }
        guard rc == 0 else { throw CryptoError.authenticationFailed }
        return out
    }

    private static func check(key: [UInt8], nonce: [UInt8]) throws {
        guard key.count == keyBytes else {
            throw CryptoError.invalidLength(what: "ChaCha20-Poly1305 key", expected: keyBytes, actual: key.count)
        }
        guard nonce.count == nonceBytes else {
            throw CryptoError.invalidLength(what: "ChaCha20-Poly1305 nonce", expected: nonceBytes, actual: nonce.count)
        }
    }
}
