import SoukCrypto
import Testing

@Suite("Hex, constant-time compare, random bytes")
struct HexTests {
    @Test("encode is lower case, two digits per byte")
    func encode() {
        #expect(Hex.encode([]) == "")
        #expect(Hex.encode([0x00, 0x01, 0x7f, 0x80, 0xab, 0xff]) == "00017f80abff")
    }

    @Test("decode accepts either case")
    func decode() {
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("00017f80abff") == [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff])
        #expect(Hex.decode("ABFF") == [0xab, 0xff])
        #expect(Hex.decode("aBfF") == [0xab, 0xff])
    }

    @Test("every byte value round-trips")
    func allBytes() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        #expect(Hex.encode(bytes).count == 512)
    }

    @Test(
        "odd lengths and non-hex characters are refused",
        arguments: [
            "0", "abc", "0g", "g0", "zz", " 00", "00 ", "0x00", "-1", "é0", "éé", "00\n", "+0", "０１",
        ])
    func bad(_ s: String) {
        #expect(Hex.decode(s) == nil)
    }

    @Test("constantTimeEqual compares contents and lengths")
    func constantTime() {
        #expect(constantTimeEqual([], []))
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2]))
    }

    @Test("secureZero clears; secureRandomBytes gives the asked length")
    func zeroAndRandom() {
        var b: [UInt8] = [1, 2, 3]
        secureZero(&b)
        #expect(b == [0, 0, 0])
        var empty: [UInt8] = []
        secureZero(&empty)
        #expect(secureRandomBytes(0) == [])
        #expect(secureRandomBytes(32).count == 32)
        #expect(secureRandomBytes(32) != secureRandomBytes(32))
    }
}
