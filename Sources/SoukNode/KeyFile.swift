import Foundation
public import SoukCrypto

/// The identity key file `<datadir>/identity.key`: JSON, always mode 0600.
///
/// Unencrypted: `{"version":1,"encryption":"none","public_key":hex,"seed":hex}`.
/// Encrypted: the 32-byte Ed25519 seed sealed with XChaCha20-Poly1305 under a key derived by
/// Argon2id from the passphrase, with the public key as associated data:
/// `{"version":1,"encryption":"argon2id-xchacha20poly1305","public_key":hex,"kdf_salt":hex,
///   "kdf_opslimit":n,"kdf_memlimit":n,"nonce":hex,"ciphertext":hex}`.
public struct KeyFile: Codable, Sendable, Equatable {
    public static let encryptedScheme = "argon2id-xchacha20poly1305"

    public var version: Int
    public var encryption: String
    public var publicKey: String
    public var seed: String?
    public var kdfSalt: String?
    public var kdfOpslimit: UInt64?
    public var kdfMemlimit: Int?
    public var nonce: String?
    public var ciphertext: String?

    enum CodingKeys: String, CodingKey {
        case version, encryption, seed, nonce, ciphertext
        case publicKey = "public_key"
        case kdfSalt = "kdf_salt"
        case kdfOpslimit = "kdf_opslimit"
        case kdfMemlimit = "kdf_memlimit"
    }

    public var isEncrypted: Bool { encryption != "none" }

    /// Wraps a key, encrypting its seed when `passphrase` is given.
    public init(key: SigningKey, passphrase: [UInt8]?, parameters: SecretBox.KDFParameters = .moderate) throws {
        version = 1
        publicKey = Hex.encode(key.publicKey)
        guard let passphrase else {
            encryption = "none"
            seed = Hex.encode(key.seed)
            return
        }
        let salt = secureRandomBytes(SecretBox.saltBytes)
        let nonceBytes = secureRandomBytes(SecretBox.nonceBytes)
        var derived = try SecretBox.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
        defer { secureZero(&derived) }
        let sealed = try SecretBox.seal(key.seed, key: derived, nonce: nonceBytes, ad: key.publicKey)
        encryption = KeyFile.encryptedScheme
        kdfSalt = Hex.encode(salt)
        kdfOpslimit = parameters.opsLimit
        kdfMemlimit = parameters.memLimit
        nonce = Hex.encode(nonceBytes)
        ciphertext = Hex.encode(sealed)
    }

    /// The public key, without needing the passphrase.
    public var publicKeyBytes: [UInt8]? { Hex.decode(publicKey).flatMap { $0.count == 32 ? $0 : nil } }

    /// Recovers the signing key.
    /// - Throws: `KeyFileError.passphraseRequired`, `.wrongPassphrase` or `.malformed`.
    public func unlock(passphrase: [UInt8]?) throws(KeyFileError) -> SigningKey {
        guard version == 1, let pk = publicKeyBytes else { throw .malformed("unsupported version or bad public_key") }
        var seedBytes: [UInt8]
        switch encryption {
        case "none":
            guard let s = seed.flatMap(Hex.decode), s.count == 32 else { throw .malformed("bad seed") }
            seedBytes = s
        case KeyFile.encryptedScheme:
            guard let passphrase else { throw .passphraseRequired }
            guard let salt = kdfSalt.flatMap(Hex.decode), let ops = kdfOpslimit, let mem = kdfMemlimit,
                let n = nonce.flatMap(Hex.decode), let c = ciphertext.flatMap(Hex.decode)
            else { throw .malformed("missing encryption fields") }
            do {
                var derived = try SecretBox.deriveKey(
                    passphrase: passphrase, salt: salt, parameters: .init(opsLimit: ops, memLimit: mem))
                defer { secureZero(&derived) }
                seedBytes = try SecretBox.open(c, key: derived, nonce: n, ad: pk)
            } catch CryptoError.authenticationFailed {
                throw .wrongPassphrase
            } catch {
                throw .malformed("\(error)")
            }
        default:
            throw .malformed("unknown encryption \(encryption)")
        }
        defer { secureZero(&seedBytes) }
        guard let key = try? SigningKey(seed: seedBytes), key.publicKey == pk else {
            throw .malformed("seed does not match public_key")
        }
        return key
    }
}

/// Why the identity could not be loaded; each message says what to do.
public enum KeyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case passphraseRequired
    case wrongPassphrase
    case malformed(String)

    public var description: String {
        switch self {
        case .passphraseRequired:
            return "the identity key is encrypted: pass --passphrase-file FILE (or run on a terminal to be asked)"
        case .wrongPassphrase: return "wrong passphrase for the identity key"
        case .malformed(let why): return "identity.key is damaged (\(why))"
        }
    }
}
