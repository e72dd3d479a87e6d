import SoukCrypto
import Testing

@Suite("BLAKE2b (RFC 7693)")
struct Blake2bTests {
    @Test("BLAKE2b-512(\"abc\") from RFC 7693 appendix A")
    func rfc7693abc() {
        #expect(
            Hex.encode(Blake2b.hash(Array("abc".utf8), outputLength: 64))
                == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    }

    @Test("BLAKE2b-256 of the empty string")
    func empty256() {
        let expected = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        #expect(Hex.encode(Blake2b.hash([])) == expected)
        #expect(Hex.encode(Blake2b.hash256([])) == expected)
    }

    @Test("BLAKE2b-512 of the empty string")
    func empty512() {
        #expect(
            Hex.encode(Blake2b.hash([], outputLength: 64))
                == "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419"
                + "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce")
    }

    @Test("the output length is a parameter of the hash, not a truncation")
    func outputLengthIsAParameter() {
        let abc = Array("abc".utf8)
        let h16 = Blake2b.hash(abc, outputLength: 16)
        let h32 = Blake2b.hash256(abc)
        #expect(Hex.encode(h16) == "cf4ab791c62b8d2b2109c90275287816")
        #expect(Hex.encode(h32) == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        #expect(Array(h32.prefix(16)) != h16)
        #expect(Array(Blake2b.hash(abc, outputLength: 64).prefix(16)) != h16)
    }

    @Test("keyed BLAKE2b-256")
    func keyed() {
        let h = Blake2b.hash(Array("abc".utf8), outputLength: 32, key: Array("souk test key".utf8))
        #expect(Hex.encode(h) == "638aaedc087e762d9d5b40f209d7a03a1e3e663401e5ba299a50ec36382b7e2c")
        #expect(h != Blake2b.hash256(Array("abc".utf8)))
    }

    @Test("every output length 16...64 gives that many bytes", arguments: 16...64)
    func lengths(n: Int) {
        #expect(Blake2b.hash([1, 2, 3], outputLength: n).count == n)
    }
}
