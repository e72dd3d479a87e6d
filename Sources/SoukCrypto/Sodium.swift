import CSodium

/// One-time libsodium initialisation; every public entry point calls `Sodium.ensureInitialized()`.
enum Sodium {
    /// `sodium_init` is thread-safe and idempotent; a failure means the process cannot do any crypto.
    static let initialized: Bool = sodium_init() >= 0

    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }
}

/// Errors of the crypto layer; a closed set.
public enum CryptoError: Error, Equatable, Sendable {
    /// A key, nonce or seed had the wrong number of bytes.
    case invalidLength(what: String, expected: Int, actual: Int)
    /// Authenticated decryption failed: wrong key, wrong passphrase or tampered ciphertext.
    case authenticationFailed
    /// Argon2id could not run (usually: not enough memory for the chosen limit).
    case keyDerivationFailed
    /// A libsodium call reported failure.
    case operationFailed(String)
}

/// Fills `count` bytes from the operating system's CSPRNG.
public func secureRandomBytes(_ count: Int) -> [UInt8] {
    Sodium.ensureInitialized()
    var out = [UInt8](repeating: 0, count: count)
    guard count > 0 else { return out }
    out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
    return out
}

/// Overwrites a buffer with zeros in a way the compiler does not elide.
public func secureZero(_ bytes: inout [UInt8]) {
    let count = bytes.count
    guard count > 0 else { return }
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, count) }
}

/// Compares two byte strings in constant time (for equal lengths).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in sodium_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
    }
}
