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
        try AEAD.seal(
            plaintext, key: key, nonce: nonce, nonceBytes: nonceBytes, ad: ad, name: "ChaCha20-Poly1305",
            crypto_aead_chacha20poly1305_ietf_encrypt)
    }

    public static func open(_ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        try AEAD.open(
            ciphertext, key: key, nonce: nonce, nonceBytes: nonceBytes, ad: ad, name: "ChaCha20-Poly1305",
            crypto_aead_chacha20poly1305_ietf_decrypt)
    }
}
