import CSodium

/// XChaCha20-Poly1305 (IETF) AEAD and Argon2id key derivation, for keys at rest.
public enum SecretBox {
    public static let keyBytes = 32
    public static let nonceBytes = 24
    public static let tagBytes = 16
    public static let saltBytes = 16

    /// Encrypts and authenticates `plaintext` with associated data `ad`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], ad: [UInt8] = []) throws -> [UInt8] {
        try AEAD.seal(
            plaintext, key: key, nonce: nonce, nonceBytes: nonceBytes, ad: ad, name: "AEAD",
            crypto_aead_xchacha20poly1305_ietf_encrypt)
    }

    /// Verifies and decrypts; throws `CryptoError.authenticationFailed` on any mismatch.
    public static func open(_ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], ad: [UInt8] = []) throws -> [UInt8] {
        try AEAD.open(
            ciphertext, key: key, nonce: nonce, nonceBytes: nonceBytes, ad: ad, name: "AEAD",
            crypto_aead_xchacha20poly1305_ietf_decrypt)
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
}
