import SoukCore
import SoukCrypto
import Testing

@Suite("ByteWriter / ByteReader primitives")
struct ByteCodecTests {
    static let edgeValues: [(UInt64, [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7f]),
        (128, [0x80, 0x01]),
        (255, [0xff, 0x01]),
        (300, [0xac, 0x02]),
        (16_383, [0xff, 0x7f]),
        (16_384, [0x80, 0x80, 0x01]),
        ((1 << 53) - 1, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        (1 << 63, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        (UInt64.max, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ]

    @Test("varint edge values encode minimally and decode back", arguments: edgeValues)
    func varintEdges(value: UInt64, bytes: [UInt8]) throws {
        var w = ByteWriter()
        w.writeVarint(value)
        #expect(w.bytes == bytes)
        var r = ByteReader(bytes)
        #expect(try r.readVarint("v") == value)
        #expect(r.isAtEnd)
        #expect(r.offset == bytes.count)
    }

    @Test("varint length is ceil(bits / 7) for every power of two and its neighbours")
    func varintRoundTripSweep() throws {
        for shift in 0..<64 {
            for value in [UInt64(1) << shift, (UInt64(1) << shift) - 1, (UInt64(1) << shift) &+ 1] {
                var w = ByteWriter()
                w.writeVarint(value)
                let bits = max(1, 64 - value.leadingZeroBitCount)
                #expect(w.bytes.count == (bits + 6) / 7, "\(value)")
                var r = ByteReader(w.bytes)
                #expect(try r.readVarint("v") == value)
                #expect(r.isAtEnd)
            }
        }
    }

    static let nonMinimal: [[UInt8]] = [
        [0x80, 0x00],
        [0xff, 0x00],
        [0x81, 0x80, 0x00],
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00],
    ]

    @Test("non-minimal varints are refused", arguments: nonMinimal)
    func nonMinimalVarint(bytes: [UInt8]) {
        var r = ByteReader(bytes)
        #expect(decodingFailure { () throws(DecodingError) in try r.readVarint("v") } == .nonMinimalVarint(field: "v"))
    }

    static let overflowing: [[UInt8]] = [
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],  // 2^64
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // 11 bytes
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
    ]

    @Test("varints over 64 bits or 10 bytes are refused", arguments: overflowing)
    func overflowVarint(bytes: [UInt8]) {
        var r = ByteReader(bytes)
        #expect(decodingFailure { () throws(DecodingError) in try r.readVarint("v") } == .varintOverflow(field: "v"))
    }

    @Test(
        "truncated varints are refused",
        arguments: [[UInt8](), [0x80], [0xff, 0xff], [UInt8](repeating: 0xff, count: 9)])
    func truncatedVarint(bytes: [UInt8]) {
        var r = ByteReader(bytes)
        #expect(decodingFailure { () throws(DecodingError) in try r.readVarint("v") } == .truncated(field: "v"))
    }

    @Test("a varint stops at the first byte without the continuation bit")
    func varintStops() throws {
        var r = ByteReader([0xac, 0x02, 0x05])
        #expect(try r.readVarint("a") == 300)
        #expect(r.remaining == 1)
        #expect(try r.readVarint("b") == 5)
        #expect(r.isAtEnd)
    }

    @Test("strings: varint byte length then UTF-8")
    func strings() throws {
        var w = ByteWriter()
        w.writeString("")
        w.writeString("héllo")
        w.writeString(String(repeating: "a", count: 200))
        #expect(Array(w.bytes.prefix(8)) == [0x00, 0x06, 0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f])
        #expect(Array(w.bytes[8..<10]) == [0xc8, 0x01])
        var r = ByteReader(w.bytes)
        #expect(try r.readString("a", maxBytes: 0) == "")
        #expect(try r.readString("b", maxBytes: 6) == "héllo")
        #expect(try r.readString("c", maxBytes: 200) == String(repeating: "a", count: 200))
        try r.expectEnd("test")
    }

    @Test(
        "strings must be well-formed UTF-8",
        arguments: [
            [0xc3, 0x28],  // bad continuation
            [0xc0, 0x80],  // overlong NUL
            [0xe0, 0x80, 0x80],  // overlong
            [0xed, 0xa0, 0x80],  // UTF-16 surrogate
            [0xf4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xff],
            [0x80],
            [0xe2, 0x82],  // truncated sequence
        ] as [[UInt8]])
    func badUTF8(bytes: [UInt8]) {
        var w = ByteWriter()
        w.writeLengthPrefixed(bytes)
        var r = ByteReader(w.bytes)
        #expect(
            decodingFailure { () throws(DecodingError) in try r.readString("s", maxBytes: 16) }
                == .invalidUTF8(field: "s"))
    }

    @Test("a string longer than its cap is refused by the length prefix alone")
    func stringCap() {
        var w = ByteWriter()
        w.writeVarint(9)  // claims 9 bytes, none follow
        var r = ByteReader(w.bytes)
        #expect(
            decodingFailure { () throws(DecodingError) in try r.readString("s", maxBytes: 8) }
                == .tooLong(field: "s", limit: 8, actual: 9))
    }

    @Test("huge length prefixes are refused without allocating or crashing")
    func hugeLengths() {
        for length in [UInt64(Int.max), UInt64(Int.max) + 1, UInt64.max] {
            var w = ByteWriter()
            w.writeVarint(length)
            var r = ByteReader(w.bytes + [1, 2, 3])
            let error = decodingFailure { () throws(DecodingError) in try r.readLengthPrefixed("x", maxLength: Int.max)
            }
            if length <= UInt64(Int.max) {
                #expect(error == .truncated(field: "x"))
            } else {
                #expect(error == .tooLong(field: "x", limit: Int.max, actual: Int.max))
            }
        }
    }

    @Test("readBytes refuses negative and past-the-end counts")
    func readBytes() throws {
        var r = ByteReader([1, 2, 3])
        #expect(decodingFailure { () throws(DecodingError) in try r.readBytes(-1, "x") } == .truncated(field: "x"))
        #expect(decodingFailure { () throws(DecodingError) in try r.readBytes(4, "x") } == .truncated(field: "x"))
        #expect(r.offset == 0, "a failed read consumes nothing")
        #expect(try r.readBytes(2, "x") == [1, 2])
        #expect(try r.readByte("y") == 3)
        #expect(decodingFailure { () throws(DecodingError) in try r.readByte("z") } == .truncated(field: "z"))
    }

    @Test("expectEnd reports the number of trailing bytes")
    func expectEnd() throws {
        var r = ByteReader([1, 2, 3])
        _ = try r.readByte("a")
        #expect(
            decodingFailure { () throws(DecodingError) in try r.expectEnd("thing") }
                == .trailingBytes(what: "thing", count: 2))
        #expect(
            DecodingError.trailingBytes(what: "thing", count: 2).description
                == "2 unexpected trailing bytes after thing")
    }
}
