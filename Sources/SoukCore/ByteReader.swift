/// Reads Souk's primitive encodings strictly: every malformed input is a `DecodingError`, never a crash.
public struct ByteReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var offset: Int = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func readByte(_ field: String) throws(DecodingError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(field: field) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readBytes(_ count: Int, _ field: String) throws(DecodingError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated(field: field) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Unsigned LEB128; refuses non-minimal encodings and values over 64 bits.
    public mutating func readVarint(_ field: String) throws(DecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for index in 0..<10 {
            let b = try readByte(field)
            let low = UInt64(b & 0x7f)
            if index == 9 && b > 0x01 { throw .varintOverflow(field: field) }
            result |= low << shift
            if b & 0x80 == 0 {
                if index > 0 && b == 0 { throw .nonMinimalVarint(field: field) }
                return result
            }
            shift += 7
        }
        throw .varintOverflow(field: field)
    }

    /// A varint length (at most `maxLength`) followed by that many bytes.
    public mutating func readLengthPrefixed(_ field: String, maxLength: Int) throws(DecodingError) -> [UInt8] {
        let length = try readVarint(field)
        guard length <= UInt64(maxLength) else {
            throw .tooLong(field: field, limit: maxLength, actual: length > UInt64(Int.max) ? Int.max : Int(length))
        }
        return try readBytes(Int(length), field)
    }

    /// A length-prefixed string that must be valid UTF-8.
    public mutating func readString(_ field: String, maxBytes: Int) throws(DecodingError) -> String {
        let raw = try readLengthPrefixed(field, maxLength: maxBytes)
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return s
    }

    /// Refuses trailing bytes after a complete object.
    public func expectEnd(_ what: String) throws(DecodingError) {
        guard isAtEnd else { throw .trailingBytes(what: what, count: remaining) }
    }
}

/// Why bytes could not be decoded. The description is one line a person can act on.
public enum DecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(field: String)
    case varintOverflow(field: String)
    case nonMinimalVarint(field: String)
    case tooLong(field: String, limit: Int, actual: Int)
    case invalidUTF8(field: String)
    case trailingBytes(what: String, count: Int)
    case unsupportedVersion(what: String, version: UInt8)
    case unknownKind(UInt8)
    case invalidValue(field: String, reason: String)

    public var description: String {
        switch self {
        case .truncated(let f): return "truncated input while reading \(f)"
        case .varintOverflow(let f): return "varint overflows 64 bits in \(f)"
        case .nonMinimalVarint(let f): return "non-minimal varint in \(f)"
        case .tooLong(let f, let limit, let actual): return "\(f) is \(actual) bytes, limit is \(limit)"
        case .invalidUTF8(let f): return "\(f) is not valid UTF-8"
        case .trailingBytes(let w, let n): return "\(n) unexpected trailing bytes after \(w)"
        case .unsupportedVersion(let w, let v): return "unsupported \(w) format version \(v)"
        case .unknownKind(let k): return "unknown object kind \(k)"
        case .invalidValue(let f, let r): return "invalid \(f): \(r)"
        }
    }
}
