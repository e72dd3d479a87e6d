import CSodium

/// The libsodium IETF AEAD calls share one signature; `SecretBox` (XChaCha20-Poly1305) and
/// `ChaChaPoly` (ChaCha20-Poly1305) differ only in which pair they call and in the nonce size.
enum AEAD {
    typealias Encrypt = (
        UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt64>?, UnsafePointer<UInt8>?, UInt64,
        UnsafePointer<UInt8>?, UInt64, UnsafePointer<UInt8>?, UnsafePointer<UInt8>, UnsafePointer<UInt8>
    ) -> Int32
    typealias Decrypt = (
        UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt64>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>, UInt64, UnsafePointer<UInt8>?, UInt64, UnsafePointer<UInt8>, UnsafePointer<UInt8>
    ) -> Int32

    static let tagBytes = 16

    /// Checks key and nonce lengths, then seals; the result is ciphertext || 16-byte tag.
    static func seal(
        _ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], nonceBytes: Int, ad: [UInt8], name: String,
        _ encrypt: Encrypt
    ) throws -> [UInt8] {
        Sodium.ensureInitialized()
        try check(key: key, nonce: nonce, nonceBytes: nonceBytes, name: name)
        var out = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var outLen: UInt64 = 0
        // libsodium wants a non-null pointer even for an empty message.
        let message = plaintext.isEmpty ? [0] : plaintext
        let rc = message.withUnsafeBufferPointer { p in
            ad.withUnsafeBufferPointer { a in
                encrypt(
                    &out, &outLen, p.baseAddress, UInt64(plaintext.count), a.baseAddress, UInt64(a.count), nil, nonce,
                    key)
            }
        }
        guard rc == 0 else { throw CryptoError.operationFailed("\(name) encrypt") }
        return out
    }

    /// Verifies and opens; any mismatch is `CryptoError.authenticationFailed`.
    static func open(
        _ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], nonceBytes: Int, ad: [UInt8], name: String,
        _ decrypt: Decrypt
    ) throws -> [UInt8] {
        Sodium.ensureInitialized()
        try check(key: key, nonce: nonce, nonceBytes: nonceBytes, name: name)
        guard ciphertext.count >= tagBytes else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagBytes)
        var outLen: UInt64 = 0
        let rc = ciphertext.withUnsafeBufferPointer { c in
            ad.withUnsafeBufferPointer { a in
                decrypt(
                    &out, &outLen, nil, c.baseAddress!, UInt64(c.count), a.baseAddress, UInt64(a.count), nonce, key)
            }
        }
        guard rc == 0 else { throw CryptoError.authenticationFailed }
        return out
    }

    private static func check(key: [UInt8], nonce: [UInt8], nonceBytes: Int, name: String) throws {
        guard key.count == 32 else {
            throw CryptoError.invalidLength(what: "\(name) key", expected: 32, actual: key.count)
        }
        guard nonce.count == nonceBytes else {
            throw CryptoError.invalidLength(what: "\(name) nonce", expected: nonceBytes, actual: nonce.count)
        }
    }
}
