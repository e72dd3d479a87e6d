import CSodium

/// XChaCha20-Poly1305 (IETF) AEAD and Argon2id key derivation, for keys at rest.
public enum SecretBox {
    public static let keyBytes = 32
    public static let nonceBytes = 24
    public static let tagBytes = 16
    public static let saltBytes = 16

    /// Encrypts and authenticates `plaintext` with associated data `ad`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], ad: [UInt8] = []) throws -> [UInt8] {
        Sodium.ensureInitialized()
        try check(key: key, nonce: nonce)
        var out = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var outLen: UInt64 = 0
        // libsodium wants a non-null pointer even for an empty message.
        let message = plaintext.isEmpty ? [0] : plaintext
        let rc = message.withUnsafeBufferPointer { p in
            ad.withUnsafeBufferPointer { a in
                crypto_aead_xchacha20poly1305_ietf_encrypt(
                    &out, &outLen, p.baseAddress!, UInt64(plaintext.count), a.baseAddress, UInt64(a.count), nil,
                    nonce, key)
            }
        }
        guard rc == 0 else { throw CryptoError.operationFailed("xchacha20poly1305 encrypt") }
        return out
    }

    /// Verifies and decrypts; throws `CryptoError.authenticationFailed` on any mismatch.
    public static func open(_ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], ad: [UInt8] = []) throws -> [UInt8] {
        Sodium.ensureInitialized()
        try check(key: key, nonce: nonce)
        guard ciphertext.count >= tagBytes else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagBytes)
        var outLen: UInt64 = 0
        let rc = ciphertext.withUnsafeBufferPointer { c in
            ad.withUnsafeBufferPointer { a in
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    &out, &outLen, nil, c.baseAddress!, UInt64(c.count), a.baseAddress, UInt64(a.count), nonce, key)
            }
        }
        guard rc == 0 else { throw CryptoError.authenticationFailed }
        return out
    }

    /// Argon2id parameters; `interactive` matches libsodium's interactive limits.
    public struct KDFParameters: Sendable, Equatable {
        public var opsLimit: UInt64
        public var memLimit: Int
        public init(opsLimit: UInt64, memLimit: Int) {
            self.opsLimit = opsLimit
            self.memLimit = memLimit
        }
        public static let interactive = KDFParameters(
            opsLimit: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE), memLimit: Int(crypto_pwhash_MEMLIMIT_INTERACTIVE))
        public static let moderate = KDFParameters(
            opsLimit: UInt64(crypto_pwhash_OPSLIMIT_MODERATE), memLimit: Int(crypto_pwhash_MEMLIMIT_MODERATE))
    }

    /// Derives a 32-byte key from a passphrase with Argon2id13.
    public static func deriveKey(passphrase: [UInt8], salt: [UInt8], parameters: KDFParameters) throws -> [UInt8] {
        Sodium.ensureInitialized()
        guard salt.count == saltBytes else {
            throw CryptoError.invalidLength(what: "Argon2id salt", expected: saltBytes, actual: salt.count)
        }
        var key = [UInt8](repeating: 0, count: keyBytes)
        let input = passphrase.isEmpty ? [0] : passphrase
        let rc = input.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { pc in
                crypto_pwhash(
                    &key, UInt64(keyBytes), pc.baseAddress!, UInt64(passphrase.count), salt,
                    parameters.opsLimit, parameters.memLimit, crypto_pwhash_ALG_ARGON2ID13)
            }
        }
        guard rc == 0 else { throw CryptoError.keyDerivationFailed }
        return key
    }

    private static func check(key: [UInt8], nonce: [UInt8]) throws {
        guard key.count == keyBytes else {
            throw CryptoError.invalidLength(what: "AEAD key", expected: keyBytes, actual: key.count)
        }
        guard nonce.count == nonceBytes else {
            throw CryptoError.invalidLength(what: "AEAD nonce", expected: nonceBytes, actual: nonce.count)
        }
    }
}
