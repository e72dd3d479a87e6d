import SoukCore
import SoukCrypto
import Testing

@Suite("ListingRetraction payload")
struct RetractionTests {
    let retraction = ListingRetraction(salt: Fixture.salt, retractedAt: Fixture.now)

    @Test("layout: 0x01 | salt 16 | varint retracted_at")
    func layout() throws {
        var w = ByteWriter()
        w.writeVarint(Fixture.now)
        #expect(retraction.encoded() == [0x01] + Fixture.salt + w.bytes)
        #expect(try ListingRetraction(decoding: retraction.encoded()) == retraction)
    }

    @Test("it addresses the same listing id as the listing with that seller and salt")
    func sameListingID() throws {
        let pk = Fixture.keyA.publicKey
        #expect(retraction.id(seller: pk) == Fixture.listing().id(seller: pk))
        let env = Fixture.envelope(retraction.encoded(), kind: .listingRetraction)
        let verified = try VerifiedObject(bytes: env, now: Fixture.now)
        #expect(verified.content == .retraction(retraction))
        #expect(verified.listingID == Fixture.listing().id(seller: pk))
    }

    @Test("malformed retraction payloads are refused")
    func malformed() {
        let good = retraction.encoded()
        let cases: [[UInt8]] = [
            [],
            [0x02] + good.dropFirst(),  // unknown format
            Array(good.dropLast()),  // truncated varint
            Array(good.prefix(10)),  // truncated salt
            good + [0x00],  // trailing byte
            [0x01] + Fixture.salt + [0x80, 0x00],  // non-minimal varint
        ]
        for p in cases {
            #expect(refusal { () throws(ValidationError) in try ListingRetraction(decoding: p) } == .malformed, "\(p)")
            #expect(verifyCode(Fixture.envelope(p, kind: .listingRetraction)) == .malformed, "\(p)")
        }
    }

    @Test("retracted_at must be after 2020 and not beyond the clock skew")
    func timestamps() {
        func code(_ at: UInt64, now: UInt64 = Fixture.now) -> ValidationError.Code? {
            let r = ListingRetraction(salt: Fixture.salt, retractedAt: at)
            return verifyCode(Fixture.envelope(r.encoded(), kind: .listingRetraction), now: now)
        }
        #expect(code(1_577_836_800) == nil)
        #expect(code(1_577_836_799) == .invalidTimestamps)
        #expect(code(0) == .invalidTimestamps)
        #expect(code(Fixture.now + 600) == nil)
        #expect(code(Fixture.now + 601) == .fromTheFuture)
    }
}
