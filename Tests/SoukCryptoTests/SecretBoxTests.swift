import SoukCrypto
import Testing

@Suite("SecretBox: XChaCha20-Poly1305 and Argon2id")
struct SecretBoxTests {
    let key = [UInt8](repeating: 0x42, count: 32)
    let nonce = [UInt8](repeating: 0x24, count: 24)
    let message = Array("the identity seed goes here, 32 b".utf8)

    @Test("draft-irtf-cfrg-xchacha A.3.1 known answer")
    func knownAnswer() throws {
        let key = Array(UInt8(0x80)...UInt8(0x9f))
        let nonce = Array(UInt8(0x40)...UInt8(0x57))
        let ad = Hex.decode("50515253c0c1c2c3c4c5c6c7")!
        let plaintext = Array(
            ("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
                + "sunscreen would be it.")
                .utf8)
        let expected =
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
            + "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
            + "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
            + "21f9664c97637da9768812f615c68b13b52e"
            + "c0875924c1c7987947deafd8780acf49"
        let sealed = try SecretBox.seal(plaintext, key: key, nonce: nonce, ad: ad)
        #expect(Hex.encode(sealed) == expected)
        #expect(try SecretBox.open(sealed, key: key, nonce: nonce, ad: ad) == plaintext)
    }

    @Test("seal then open returns the plaintext; the ciphertext is plaintext + 16 bytes")
    func roundTrip() throws {
        let sealed = try SecretBox.seal(message, key: key, nonce: nonce, ad: [1, 2, 3])
        #expect(sealed.count == message.count + SecretBox.tagBytes)
        #expect(Array(sealed.prefix(message.count)) != message)
        #expect(try SecretBox.open(sealed, key: key, nonce: nonce, ad: [1, 2, 3]) == message)
    }

    @Test("an empty plaintext seals to a bare tag and opens to empty")
    func emptyPlaintext() throws {
        let sealed = try SecretBox.seal([], key: key, nonce: nonce)
        #expect(sealed.count == 16)
        #expect(try SecretBox.open(sealed, key: key, nonce: nonce) == [])
        var bad = sealed
        bad[0] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try SecretBox.open(bad, key: key, nonce: nonce) }
    }

    @Test("any flipped bit of the ciphertext or tag fails authentication")
    func tamper() throws {
        let sealed = try SecretBox.seal(message, key: key, nonce: nonce)
        for i in sealed.indices {
            var bad = sealed
            bad[i] ^= UInt8(1) << UInt8(i % 8)
            #expect(throws: CryptoError.authenticationFailed) { try SecretBox.open(bad, key: key, nonce: nonce) }
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try SecretBox.open(Array(sealed.dropLast()), key: key, nonce: nonce)
        }
        #expect(throws: CryptoError.authenticationFailed) { try SecretBox.open(sealed + [0], key: key, nonce: nonce) }
    }

    @Test("wrong key, nonce or associated data fails authentication")
    func wrongInputs() throws {
        let sealed = try SecretBox.seal(message, key: key, nonce: nonce, ad: [7])
        var otherKey = key
        otherKey[31] ^= 1
        var otherNonce = nonce
        otherNonce[23] ^= 1
        #expect(throws: CryptoError.authenticationFailed) {
            try SecretBox.open(sealed, key: otherKey, nonce: nonce, ad: [7])
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try SecretBox.open(sealed, key: key, nonce: otherNonce, ad: [7])
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try SecretBox.open(sealed, key: key, nonce: nonce, ad: [8])
        }
        #expect(throws: CryptoError.authenticationFailed) { try SecretBox.open(sealed, key: key, nonce: nonce) }
    }

    @Test("ciphertexts shorter than the tag fail authentication without a crash", arguments: [0, 1, 15])
    func shortCiphertext(count: Int) {
        #expect(throws: CryptoError.authenticationFailed) {
            try SecretBox.open([UInt8](repeating: 0, count: count), key: key, nonce: nonce)
        }
    }

    @Test("wrong key and nonce lengths are refused")
    func lengths() {
        #expect(throws: CryptoError.invalidLength(what: "AEAD key", expected: 32, actual: 16)) {
            try SecretBox.seal(message, key: Array(key.prefix(16)), nonce: nonce)
        }
        #expect(throws: CryptoError.invalidLength(what: "AEAD nonce", expected: 24, actual: 12)) {
            try SecretBox.seal(message, key: key, nonce: Array(nonce.prefix(12)))
        }
        #expect(throws: CryptoError.invalidLength(what: "AEAD key", expected: 32, actual: 33)) {
            try SecretBox.open(message, key: key + [0], nonce: nonce)
        }
    }

    // MARK: Argon2id

    /// libsodium's minimums: crypto_pwhash_OPSLIMIT_MIN = 1, crypto_pwhash_MEMLIMIT_MIN = 8192 bytes.
    static let minimal = SecretBox.KDFParameters(opsLimit: 1, memLimit: 8192)
    static let salt = Array(UInt8(0)...UInt8(15))
    static let passphrase = Array("correct horse battery staple".utf8)

    @Test("Argon2id13 known answers (t=1, m=8 KiB, p=1 and t=2, m=64 KiB, p=1)")
    func argon2idKnownAnswer() throws {
        let k1 = try SecretBox.deriveKey(passphrase: Self.passphrase, salt: Self.salt, parameters: Self.minimal)
        #expect(Hex.encode(k1) == "d17ea6341ca93da6079ea2f64dc4aa31dd1aaf9caa67fb42ac4afd0714706f26")
        let k2 = try SecretBox.deriveKey(
            passphrase: Self.passphrase, salt: Self.salt, parameters: .init(opsLimit: 2, memLimit: 65_536))
        #expect(Hex.encode(k2) == "2df47ede6358ed17a9976d4fcedb897a10036d432a4acef17d263bfc98bd20ac")
        let empty = try SecretBox.deriveKey(passphrase: [], salt: Self.salt, parameters: Self.minimal)
        #expect(Hex.encode(empty) == "31ed41e2d73f27fdfe4eb4bec651341e58ba43477051c6fe4adad735d82ee08a")
    }

    @Test("Argon2id is deterministic; salt, passphrase and parameters all matter")
    func argon2idInputs() throws {
        let a = try SecretBox.deriveKey(passphrase: Self.passphrase, salt: Self.salt, parameters: Self.minimal)
        let again = try SecretBox.deriveKey(passphrase: Self.passphrase, salt: Self.salt, parameters: Self.minimal)
        var otherSalt = Self.salt
        otherSalt[0] ^= 1
        let b = try SecretBox.deriveKey(passphrase: Self.passphrase, salt: otherSalt, parameters: Self.minimal)
        let c = try SecretBox.deriveKey(passphrase: Self.passphrase + [0x21], salt: Self.salt, parameters: Self.minimal)
        let d = try SecretBox.deriveKey(
            passphrase: Self.passphrase, salt: Self.salt, parameters: .init(opsLimit: 2, memLimit: 8192))
        #expect(a.count == 32)
        #expect(a == again)
        #expect(Set([a, b, c, d]).count == 4)
    }

    @Test("a salt that is not 16 bytes is refused", arguments: [0, 15, 17, 32])
    func argon2idSalt(count: Int) {
        #expect(throws: CryptoError.invalidLength(what: "Argon2id salt", expected: 16, actual: count)) {
            try SecretBox.deriveKey(
                passphrase: Self.passphrase, salt: [UInt8](repeating: 0, count: count), parameters: Self.minimal)
        }
    }

    @Test("parameters below libsodium's minimum fail cleanly")
    func argon2idBelowMinimum() {
        #expect(throws: CryptoError.keyDerivationFailed) {
            try SecretBox.deriveKey(
                passphrase: Self.passphrase, salt: Self.salt, parameters: .init(opsLimit: 0, memLimit: 8192))
        }
        #expect(throws: CryptoError.keyDerivationFailed) {
            try SecretBox.deriveKey(
                passphrase: Self.passphrase, salt: Self.salt, parameters: .init(opsLimit: 1, memLimit: 1024))
        }
    }

    @Test("the named parameter sets are libsodium's")
    func namedParameters() {
        #expect(SecretBox.KDFParameters.interactive == .init(opsLimit: 2, memLimit: 67_108_864))
        #expect(SecretBox.KDFParameters.moderate == .init(opsLimit: 3, memLimit: 268_435_456))
    }

    @Test("a derived key seals and opens a secret; a wrong passphrase does not open it")
    func keyAtRestFlow() throws {
        let k = try SecretBox.deriveKey(passphrase: Self.passphrase, salt: Self.salt, parameters: Self.minimal)
        let sealed = try SecretBox.seal(message, key: k, nonce: nonce)
        let wrong = try SecretBox.deriveKey(passphrase: Array("wrong".utf8), salt: Self.salt, parameters: Self.minimal)
        #expect(try SecretBox.open(sealed, key: k, nonce: nonce) == message)
        #expect(throws: CryptoError.authenticationFailed) { try SecretBox.open(sealed, key: wrong, nonce: nonce) }
    }
}
