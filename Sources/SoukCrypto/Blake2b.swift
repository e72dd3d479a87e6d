import CSodium

/// BLAKE2b (RFC 7693) through libsodium's `crypto_generichash`.
public enum Blake2b {
    /// Hashes `data` to `outputLength` bytes (16...64), optionally keyed.
    public static func hash(_ data: [UInt8], outputLength: Int = 32, key: [UInt8] = []) -> [UInt8] {
        Sodium.ensureInitialized()
        precondition((16...64).contains(outputLength), "BLAKE2b output length must be 16...64")
        precondition(key.count <= 64, "BLAKE2b key must be at most 64 bytes")
        var out = [UInt8](repeating: 0, count: outputLength)
        data.withUnsafeBufferPointer { d in
            key.withUnsafeBufferPointer { k in
                _ = crypto_generichash(&out, outputLength, d.baseAddress, UInt64(d.count), k.baseAddress, k.count)
            }
        }
        return out
    }

    /// BLAKE2b-256 of `data`.
    public static func hash256(_ data: [UInt8]) -> [UInt8] { hash(data, outputLength: 32) }
}
