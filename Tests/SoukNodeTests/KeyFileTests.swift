import Foundation
import SoukCrypto
import SoukNode
import Testing

@Suite("identity key file")
struct KeyFileTests {
    let key = NodeFixture.key(7)
    let passphrase = Array("correct horse battery staple".utf8)

    @Test func plainRoundTrip() throws {
        let file = try KeyFile(key: key, passphrase: nil)
        #expect(!file.isEncrypted)
        #expect(file.encryption == "none")
        #expect(file.publicKeyBytes == key.publicKey)
        let unlocked = try file.unlock(passphrase: nil)
        #expect(unlocked.seed == key.seed)
        #expect(unlocked.publicKey == key.publicKey)
        // Survives the JSON the data dir writes.
        let decoded = try JSONDecoder().decode(KeyFile.self, from: JSONEncoder().encode(file))
        #expect(decoded == file)
        #expect(try decoded.unlock(passphrase: nil).seed == key.seed)
    }

    @Test func encryptedRoundTrip() throws {
        let file = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        #expect(file.isEncrypted)
        #expect(file.encryption == KeyFile.encryptedScheme)
        #expect(file.seed == nil)
        #expect(file.kdfOpslimit == 1)
        #expect(file.kdfMemlimit == 8192)
        #expect(file.publicKeyBytes == key.publicKey, "the public key is readable without the passphrase")
        let decoded = try JSONDecoder().decode(KeyFile.self, from: JSONEncoder().encode(file))
        let unlocked = try decoded.unlock(passphrase: passphrase)
        #expect(unlocked.seed == key.seed)
        #expect(unlocked.publicKey == key.publicKey)
    }

    @Test func encryptingTwiceUsesFreshSaltAndNonce() throws {
        let a = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        let b = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        #expect(a.kdfSalt != b.kdfSalt)
        #expect(a.nonce != b.nonce)
        #expect(a.ciphertext != b.ciphertext)
    }

    @Test func wrongPassphraseIsRefused() throws {
        let file = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        #expect(throws: KeyFileError.wrongPassphrase) { try file.unlock(passphrase: Array("wrong".utf8)) }
        #expect(throws: KeyFileError.wrongPassphrase) { try file.unlock(passphrase: passphrase.dropLast() + [0x21]) }
        #expect(KeyFileError.wrongPassphrase.description.contains("wrong passphrase"))
    }

    @Test func missingPassphraseIsRefused() throws {
        let file = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        #expect(throws: KeyFileError.passphraseRequired) { try file.unlock(passphrase: nil) }
        #expect(KeyFileError.passphraseRequired.description.contains("--passphrase-file"))
    }

    @Test func tamperedCiphertextIsRefused() throws {
        var file = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        file.ciphertext = NodeFixture.flipFirstBit(file.ciphertext!)
        // The AEAD cannot tell a wrong passphrase from a changed ciphertext; either way nothing unlocks.
        #expect(throws: KeyFileError.wrongPassphrase) { try file.unlock(passphrase: passphrase) }
    }

    @Test func tamperedNonceOrSaltIsRefused() throws {
        let original = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        var badNonce = original
        badNonce.nonce = NodeFixture.flipFirstBit(original.nonce!)
        #expect(throws: KeyFileError.wrongPassphrase) { try badNonce.unlock(passphrase: passphrase) }
        var badSalt = original
        badSalt.kdfSalt = NodeFixture.flipFirstBit(original.kdfSalt!)
        #expect(throws: KeyFileError.wrongPassphrase) { try badSalt.unlock(passphrase: passphrase) }
    }

    @Test func truncatedOrMissingFieldsAreMalformed() throws {
        let original = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        var noNonce = original
        noNonce.nonce = nil
        #expect(throws: KeyFileError.malformed("missing encryption fields")) {
            try noNonce.unlock(passphrase: passphrase)
        }
        var shortNonce = original
        shortNonce.nonce = String(original.nonce!.dropLast(2))
        let error = #expect(throws: KeyFileError.self) { try shortNonce.unlock(passphrase: passphrase) }
        if case .malformed? = error {
        } else {
            Issue.record("a 23-byte nonce must be malformed, got \(String(describing: error))")
        }
        var badHex = original
        badHex.ciphertext = "zz" + original.ciphertext!.dropFirst(2)
        #expect(throws: KeyFileError.malformed("missing encryption fields")) {
            try badHex.unlock(passphrase: passphrase)
        }
    }

    @Test func mismatchedPublicKeyIsRefused() throws {
        let other = NodeFixture.key(8)
        // Plain: the seed no longer derives the recorded public key.
        var plain = try KeyFile(key: key, passphrase: nil)
        plain.publicKey = Hex.encode(other.publicKey)
        #expect(throws: KeyFileError.malformed("seed does not match public_key")) { try plain.unlock(passphrase: nil) }
        // Encrypted: the public key is the AEAD's associated data, so swapping it fails authentication.
        var sealed = try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF)
        sealed.publicKey = Hex.encode(other.publicKey)
        #expect(throws: KeyFileError.wrongPassphrase) { try sealed.unlock(passphrase: passphrase) }
    }

    @Test func unsupportedVersionSchemeAndBadFieldsAreMalformed() throws {
        var v2 = try KeyFile(key: key, passphrase: nil)
        v2.version = 2
        #expect(throws: KeyFileError.malformed("unsupported version or bad public_key")) {
            try v2.unlock(passphrase: nil)
        }
        var shortKey = try KeyFile(key: key, passphrase: nil)
        shortKey.publicKey = String(shortKey.publicKey.dropLast(2))
        #expect(throws: KeyFileError.malformed("unsupported version or bad public_key")) {
            try shortKey.unlock(passphrase: nil)
        }
        var scheme = try KeyFile(key: key, passphrase: nil)
        scheme.encryption = "rot13"
        #expect(throws: KeyFileError.malformed("unknown encryption rot13")) { try scheme.unlock(passphrase: nil) }
        var badSeed = try KeyFile(key: key, passphrase: nil)
        badSeed.seed = String(badSeed.seed!.dropLast(2))
        #expect(throws: KeyFileError.malformed("bad seed")) { try badSeed.unlock(passphrase: nil) }
        #expect(KeyFileError.malformed("bad seed").description.contains("identity.key is damaged"))
    }

    /// `key_files` in `Specs/vectors/objects.json`: files for the seed 00..1f computed independently
    /// (PyNaCl) from `Specs/objects.md` §15, with fixed salt and nonce.
    struct KeyFileVector: Decodable {
        var name: String
        var seed: String
        var publicKey: String
        var passphrase: String?
        var derivedKey: String?
        var file: String
    }

    struct KeyFileVectors: Decodable {
        var keyFiles: [KeyFileVector]
    }

    @Test func specVectorsUnlock() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Specs/vectors/objects.json"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let vectors = try decoder.decode(KeyFileVectors.self, from: data).keyFiles
        #expect(Set(vectors.map(\.name)) == ["plain", "argon2id-minimum", "argon2id-moderate"])
        for v in vectors {
            let context = Comment(rawValue: "key file vector \(v.name)")
            let file = try JSONDecoder().decode(KeyFile.self, from: Data(v.file.utf8))
            #expect(file.version == 1, context)
            #expect(file.publicKey == v.publicKey, context)
            let passphrase = v.passphrase.map { Array($0.utf8) }
            let key = try file.unlock(passphrase: passphrase)
            #expect(Hex.encode(key.seed) == v.seed, context)
            #expect(Hex.encode(key.publicKey) == v.publicKey, context)
            guard let passphrase else {
                #expect(file.encryption == "none", context)
                continue
            }
            #expect(file.encryption == KeyFile.encryptedScheme, context)
            #expect(file.seed == nil, context)
            #expect(throws: KeyFileError.passphraseRequired) { try file.unlock(passphrase: nil) }
            // Argon2id at 256 MiB takes a while: the explicit derivation is checked at the small parameters only
            // (unlocking above already proves the moderate vector).
            let memLimit = try #require(file.kdfMemlimit, context)
            guard memLimit <= 8192 else { continue }
            let opsLimit = try #require(file.kdfOpslimit, context)
            let salt = try #require(file.kdfSalt.flatMap(Hex.decode), context)
            let nonce = try #require(file.nonce.flatMap(Hex.decode), context)
            let derived = try SecretBox.deriveKey(
                passphrase: passphrase, salt: salt, parameters: .init(opsLimit: opsLimit, memLimit: memLimit))
            #expect(Hex.encode(derived) == v.derivedKey, context)
            let sealed = try SecretBox.seal(key.seed, key: derived, nonce: nonce, ad: key.publicKey)
            #expect(Hex.encode(sealed) == file.ciphertext, context)
            #expect(throws: KeyFileError.wrongPassphrase) { try file.unlock(passphrase: passphrase + [0x21]) }
        }
    }

    @Test func writtenFileIsPrivateAndHoldsNoSecretWhenEncrypted() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }

        let sealedDir = DataDir(path: root + "/sealed")
        try sealedDir.create()
        try sealedDir.writeKeyFile(try KeyFile(key: key, passphrase: passphrase, parameters: NodeFixture.fastKDF))
        #expect(try NodeFixture.mode(sealedDir.keyFile) == 0o600)
        let sealedText = try String(contentsOfFile: sealedDir.keyFile, encoding: .utf8)
        #expect(!sealedText.contains(Hex.encode(key.seed)), "the secret seed must not appear in an encrypted key file")
        #expect(!sealedText.contains(Hex.encode(key.seed).uppercased()))
        #expect(!sealedText.contains(Data(key.seed).base64EncodedString()))
        #expect(!sealedText.contains("\"seed\""))
        #expect(sealedText.contains(Hex.encode(key.publicKey)))
        let loaded = try sealedDir.loadKeyFile()
        #expect(try loaded.unlock(passphrase: passphrase).seed == key.seed)

        // The plain file holds the seed (that is what mode 0600 protects), proving the check above means something.
        let plainDir = DataDir(path: root + "/plain")
        try plainDir.create()
        try plainDir.writeKeyFile(try KeyFile(key: key, passphrase: nil))
        #expect(try NodeFixture.mode(plainDir.keyFile) == 0o600)
        #expect(try String(contentsOfFile: plainDir.keyFile, encoding: .utf8).contains(Hex.encode(key.seed)))
        #expect(try plainDir.loadKeyFile().unlock(passphrase: nil).publicKey == key.publicKey)
        // No temporary file is left beside it.
        #expect(!FileManager.default.fileExists(atPath: plainDir.keyFile + ".tmp"))
    }
}
