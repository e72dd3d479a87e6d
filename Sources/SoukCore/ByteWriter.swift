/// Appends Souk's primitive encodings to a byte buffer (see `Specs/objects.md`, "Primitives").
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func writeByte(_ b: UInt8) { bytes.append(b) }

    public mutating func writeBytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// Unsigned LEB128, minimal length (1...10 bytes).
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// A varint byte length followed by the bytes.
    public mutating func writeLengthPrefixed(_ b: [UInt8]) {
        writeVarint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    /// A varint byte length followed by the UTF-8 bytes.
    public mutating func writeString(_ s: String) { writeLengthPrefixed(Array(s.utf8)) }
}
