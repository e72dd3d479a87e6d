import SoukCore
import SoukCrypto
import Testing

/// One field change applied to the valid base listing, with the code expected when the listing is
/// created (`validateFields`) and when its encoding is decoded (`Listing(decoding:)` and the full
/// `VerifiedObject` path). `nil` means accepted.
///
/// The two codes differ only where a string is longer in bytes than its field's wire cap: the decoder
/// refuses such a length prefix before reading the bytes, as `malformed` (see `Specs/objects.md`).
struct LimitCase: Sendable, CustomTestStringConvertible {
    let name: String
    let listing: Listing
    let create: ValidationError.Code?
    let decode: ValidationError.Code?

    init(
        _ name: String, create: ValidationError.Code?, decode: ValidationError.Code?? = .none,
        _ change: (inout Listing) -> Void
    ) {
        self.name = name
        var l = Fixture.listing()
        change(&l)
        listing = l
        self.create = create
        self.decode = decode ?? create
    }

    var testDescription: String { name }
}

@Suite("Listing limits, on create and on decode")
struct ListingLimitTests {
    static let day = Fixture.day
    static let family = "👩‍👩‍👧"  // one character, 18 bytes

    static let accepted: [LimitCase] = [
        LimitCase("base listing", create: nil) { _ in },
        LimitCase("title of 1 character", create: nil) { $0.title = "a" },
        LimitCase("title of 140 characters", create: nil) { $0.title = String(repeating: "a", count: 140) },
        LimitCase("title of 140 two-byte characters", create: nil) { $0.title = String(repeating: "é", count: 140) },
        LimitCase("title of 140 four-byte characters = 560 bytes", create: nil) {
            $0.title = String(repeating: "🚲", count: 140)
        },
        LimitCase("title of 140 decomposed characters (e + U+0301)", create: nil) {
            $0.title = String(repeating: "e\u{301}", count: 140)
        },
        LimitCase("title with inner spaces", create: nil) { $0.title = "Road  bike, 58 cm" },
        LimitCase("title with U+00A0 and U+00C2 (next to the C1 range)", create: nil) {
            $0.title = "Prix\u{a0}\u{c2} 10"
        },
        LimitCase("description with U+0100 and U+0180 (not controls)", create: nil) {
            $0.description = "\u{100} \u{180}"
        },
        LimitCase("description of 8192 bytes", create: nil) { $0.description = String(repeating: "x", count: 8192) },
        LimitCase("description of 4096 two-byte characters", create: nil) {
            $0.description = String(repeating: "é", count: 4096)
        },
        LimitCase("description with newline and tab", create: nil) { $0.description = "Line 1\n\tLine 2\n" },
        LimitCase("price 0", create: nil) { $0.price = Money(minorUnits: 0, currency: Fixture.eur) },
        LimitCase("price 2^53 - 1", create: nil) { $0.price = Money(minorUnits: (1 << 53) - 1, currency: Fixture.eur) },
        LimitCase("category of 48 characters", create: nil) { $0.category = String(repeating: "a", count: 48) },
        LimitCase("category with inner hyphens and digits", create: nil) { $0.category = "e-bikes--2" },
        LimitCase("category of one digit", create: nil) { $0.category = "0" },
        LimitCase("empty location", create: nil) { $0.location = "" },
        LimitCase("location of 128 two-byte characters = 256 bytes", create: nil) {
            $0.location = String(repeating: "ü", count: 128)
        },
        LimitCase("empty country", create: nil) { $0.country = "" },
        LimitCase("quantity 1_000_000", create: nil) { $0.quantity = 1_000_000 },
        LimitCase("no tags", create: nil) { $0.tags = [] },
        LimitCase("10 tags", create: nil) { $0.tags = (0..<10).map { "t\($0)" } },
        LimitCase("tag of 32 characters", create: nil) { $0.tags = [String(repeating: "t", count: 32)] },
        LimitCase("version 2^32 - 1", create: nil) { $0.version = UInt64(UInt32.max) },
        LimitCase("expires_at exactly 30 days after updated_at", create: nil) {
            $0.expiresAt = $0.updatedAt + 30 * day
        },
        LimitCase("expires_at 1 s after updated_at", create: nil) {
            $0.expiresAt = Fixture.now + 1
            $0.updatedAt = Fixture.now
        },
        LimitCase("created_at exactly 2020-01-01", create: nil) { $0.createdAt = 1_577_836_800 },
        LimitCase("each condition", create: nil) { $0.condition = .forParts },
    ]

    static let refused: [LimitCase] = [
        LimitCase("empty title", create: .invalidTitle) { $0.title = "" },
        LimitCase("title of 141 characters", create: .invalidTitle) { $0.title = String(repeating: "a", count: 141) },
        LimitCase("title of 141 four-byte characters = 564 bytes", create: .invalidTitle, decode: .malformed) {
            $0.title = String(repeating: "🚲", count: 141)
        },
        LimitCase("title of 32 characters but 576 bytes", create: .invalidTitle, decode: .malformed) {
            $0.title = String(repeating: family, count: 32)
        },
        LimitCase("title with BEL", create: .invalidTitle) { $0.title = "Road\u{7}bike" },
        LimitCase("title with NUL", create: .invalidTitle) { $0.title = "Road\u{0}bike" },
        LimitCase("title with newline", create: .invalidTitle) { $0.title = "Road\nbike" },
        LimitCase("title with tab", create: .invalidTitle) { $0.title = "Road\tbike" },
        LimitCase("title with NEL (U+0085)", create: .invalidTitle) { $0.title = "Road\u{85}bike" },
        LimitCase("title with DEL", create: .invalidTitle) { $0.title = "Road\u{7f}bike" },
        LimitCase("title with U+0080 (first C1)", create: .invalidTitle) { $0.title = "Road\u{80}bike" },
        LimitCase("title with U+009F (last C1)", create: .invalidTitle) { $0.title = "Road\u{9f}bike" },
        LimitCase("title of 141 decomposed characters", create: .invalidTitle) {
            $0.title = String(repeating: "e\u{301}", count: 141)
        },
        LimitCase("description with U+0085", create: .invalidDescription) { $0.description = "a\u{85}b" },
        LimitCase("location with U+009B (CSI)", create: .invalidLocation) { $0.location = "Berlin\u{9b}31m" },
        LimitCase("title with leading space", create: .invalidTitle) { $0.title = " Road bike" },
        LimitCase("title with trailing space", create: .invalidTitle) { $0.title = "Road bike " },
        LimitCase("title with leading no-break space", create: .invalidTitle) { $0.title = "\u{a0}Road bike" },
        LimitCase("title with trailing ideographic space", create: .invalidTitle) { $0.title = "Road bike\u{3000}" },
        LimitCase("title of spaces only", create: .invalidTitle) { $0.title = "   " },
        LimitCase("description of 8193 bytes", create: .invalidDescription, decode: .malformed) {
            $0.description = String(repeating: "x", count: 8193)
        },
        LimitCase("description of 4097 two-byte characters", create: .invalidDescription, decode: .malformed) {
            $0.description = String(repeating: "é", count: 4097)
        },
        LimitCase("description with NUL", create: .invalidDescription) { $0.description = "a\u{0}b" },
        LimitCase("description with carriage return", create: .invalidDescription) { $0.description = "a\r\nb" },
        LimitCase("description with ESC", create: .invalidDescription) { $0.description = "\u{1b}[31mred" },
        LimitCase("price 2^53", create: .invalidPrice) { $0.price = Money(minorUnits: 1 << 53, currency: Fixture.eur) },
        LimitCase("price 2^64 - 1", create: .invalidPrice) {
            $0.price = Money(minorUnits: UInt64.max, currency: Fixture.eur)
        },
        LimitCase("empty category", create: .invalidCategory) { $0.category = "" },
        LimitCase("category with upper case", create: .invalidCategory) { $0.category = "Bikes" },
        LimitCase("category with leading hyphen", create: .invalidCategory) { $0.category = "-bikes" },
        LimitCase("category with trailing hyphen", create: .invalidCategory) { $0.category = "bikes-" },
        LimitCase("category with space", create: .invalidCategory) { $0.category = "road bikes" },
        LimitCase("category with underscore", create: .invalidCategory) { $0.category = "road_bikes" },
        LimitCase("category with non-ASCII letter", create: .invalidCategory) { $0.category = "fahrräder" },
        LimitCase("category of 49 characters", create: .invalidCategory, decode: .malformed) {
            $0.category = String(repeating: "a", count: 49)
        },
        LimitCase("location of 129 characters", create: .invalidLocation) {
            $0.location = String(repeating: "a", count: 129)
        },
        LimitCase("location of 86 three-byte characters = 258 bytes", create: .invalidLocation, decode: .malformed) {
            $0.location = String(repeating: "€", count: 86)
        },
        LimitCase("title with a right-to-left override", create: .invalidTitle) { $0.title = "Bike \u{202E}gpj.exe" },
        LimitCase("title with a bidi isolate", create: .invalidTitle) { $0.title = "Bike \u{2067}x\u{2069}" },
        LimitCase("title with a line separator", create: .invalidTitle) { $0.title = "Bike\u{2028}Free" },
        LimitCase("location with a left-to-right embedding", create: .invalidLocation) {
            $0.location = "Berlin \u{202A}DE"
        },
        LimitCase("location with a paragraph separator", create: .invalidLocation) { $0.location = "Berlin\u{2029}" },
        LimitCase("location with newline", create: .invalidLocation) { $0.location = "Berlin\nMitte" },
        LimitCase("location with tab", create: .invalidLocation) { $0.location = "Berlin\tMitte" },
        LimitCase("country in lower case", create: .invalidCountry) { $0.country = "de" },
        LimitCase("country of one letter", create: .invalidCountry) { $0.country = "D" },
        LimitCase("country with a digit", create: .invalidCountry) { $0.country = "D1" },
        LimitCase("country of one two-byte letter", create: .invalidCountry) { $0.country = "Ü" },
        LimitCase("country of three letters", create: .invalidCountry, decode: .malformed) { $0.country = "DEU" },
        LimitCase("quantity 0", create: .invalidQuantity) { $0.quantity = 0 },
        LimitCase("quantity 1_000_001", create: .invalidQuantity) { $0.quantity = 1_000_001 },
        LimitCase("quantity 2^64 - 1", create: .invalidQuantity) { $0.quantity = UInt64.max },
        LimitCase("11 tags", create: .invalidTags) { $0.tags = (0..<11).map { "t\($0)" } },
        LimitCase("duplicate tags", create: .invalidTags) { $0.tags = ["road", "steel", "road"] },
        LimitCase("tag with upper case", create: .invalidTags) { $0.tags = ["Road"] },
        LimitCase("empty tag", create: .invalidTags) { $0.tags = [""] },
        LimitCase("tag with leading hyphen", create: .invalidTags) { $0.tags = ["-road"] },
        LimitCase("tag with space", create: .invalidTags) { $0.tags = ["road bike"] },
        LimitCase("tag of 33 characters", create: .invalidTags, decode: .malformed) {
            $0.tags = [String(repeating: "t", count: 33)]
        },
        LimitCase("version 0", create: .invalidVersion) { $0.version = 0 },
        LimitCase("version 2^32", create: .invalidVersion) { $0.version = 1 << 32 },
        LimitCase("version 2^64 - 1", create: .invalidVersion) { $0.version = UInt64.max },
        LimitCase("expires_at 30 days + 1 s after updated_at", create: .invalidTimestamps) {
            $0.expiresAt = $0.updatedAt + 30 * day + 1
        },
        LimitCase("expires_at equal to updated_at", create: .invalidTimestamps) { $0.expiresAt = $0.updatedAt },
        LimitCase("expires_at before updated_at", create: .invalidTimestamps) { $0.expiresAt = $0.updatedAt - 1 },
        LimitCase("created_at after updated_at", create: .invalidTimestamps) { $0.createdAt = $0.updatedAt + 1 },
        LimitCase("created_at before 2020", create: .invalidTimestamps) { $0.createdAt = 1_577_836_799 },
        LimitCase("created_at 0", create: .invalidTimestamps) { $0.createdAt = 0 },
    ]

    @Test("accepted on create", arguments: accepted)
    func acceptedOnCreate(_ c: LimitCase) {
        #expect(refusal { () throws(ValidationError) in try c.listing.validateFields() } == nil)
        #expect(refusal { () throws(ValidationError) in try c.listing.validate(now: Fixture.now) } == nil)
    }

    @Test("accepted on decode, and decodes to the same listing", arguments: accepted)
    func acceptedOnDecode(_ c: LimitCase) throws {
        let payload = c.listing.encoded()
        #expect(payload == RawListing(c.listing).encoded(), "the test encoder must match the real one")
        #expect(try Listing(decoding: payload) == c.listing)
        #expect(try VerifiedObject(bytes: Fixture.envelope(payload), now: Fixture.now).content == .listing(c.listing))
    }

    @Test("refused on create with the field's code", arguments: refused)
    func refusedOnCreate(_ c: LimitCase) {
        #expect(refusal { () throws(ValidationError) in try c.listing.validateFields() } == c.create)
        #expect(refusal { () throws(ValidationError) in try c.listing.validate(now: Fixture.now) } == c.create)
    }

    @Test("refused on decode with the expected code", arguments: refused)
    func refusedOnDecode(_ c: LimitCase) {
        let payload = c.listing.encoded()
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: payload) } == c.decode)
        #expect(verifyCode(Fixture.envelope(payload)) == c.decode)
    }

    @Test("a salt that is not 16 bytes is refused on create", arguments: [0, 15, 17, 32])
    func badSalt(count: Int) {
        let l = Fixture.listing(salt: [UInt8](repeating: 7, count: count))
        #expect(refusal { () throws(ValidationError) in try l.validateFields() } == .malformed)
    }

    // MARK: Clock

    @Test("updated_at may be at most 600 s ahead of the verifier's clock")
    func clockSkew() {
        let now = Fixture.now
        let atLimit = Fixture.listing(createdAt: now + 600, updatedAt: now + 600, expiresAt: now + 600 + Self.day)
        #expect(refusal { () throws(ValidationError) in try atLimit.validate(now: now) } == nil)
        #expect(verifyCode(Fixture.envelope(atLimit.encoded()), now: now) == nil)

        let beyond = Fixture.listing(createdAt: now + 601, updatedAt: now + 601, expiresAt: now + 601 + Self.day)
        #expect(refusal { () throws(ValidationError) in try beyond.validateFields() } == nil, "a static check only")
        #expect(refusal { () throws(ValidationError) in try beyond.validate(now: now) } == .fromTheFuture)
        #expect(verifyCode(Fixture.envelope(beyond.encoded()), now: now) == .fromTheFuture)
        // The same listing becomes acceptable once the clock catches up.
        #expect(verifyCode(Fixture.envelope(beyond.encoded()), now: now + 1) == nil)
    }

    @Test("a listing is live while now < expires_at")
    func expiry() {
        let l = Fixture.listing()
        let env = Fixture.envelope(l.encoded())
        #expect(verifyCode(env, now: l.expiresAt - 1) == nil)
        #expect(verifyCode(env, now: l.expiresAt) == .expired)
        #expect(verifyCode(env, now: l.expiresAt + 365 * Self.day) == .expired)
        #expect(refusal { () throws(ValidationError) in try l.validate(now: l.expiresAt) } == .expired)
        #expect(refusal { () throws(ValidationError) in try l.validateFields() } == nil, "a static check only")
    }

    // MARK: Decode-only rules

    @Test("unknown currency codes are refused on decode", arguments: ["XYZ", "eur", "", "EURO", "€", "ABCDEFGH"])
    func unknownCurrency(code: String) {
        var raw = RawListing(Fixture.listing())
        raw.currency = code
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: raw.encoded()) } == .unknownCurrency)
        #expect(verifyCode(Fixture.envelope(raw.encoded())) == .unknownCurrency)
    }

    @Test("a currency code over 8 bytes is malformed")
    func longCurrency() {
        var raw = RawListing(Fixture.listing())
        raw.currency = "ABCDEFGHI"
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: raw.encoded()) } == .malformed)
    }

    @Test("unknown condition bytes are refused on decode", arguments: [UInt8(7), 8, 0x80, 0xff])
    func unknownCondition(byte: UInt8) {
        var raw = RawListing(Fixture.listing())
        raw.condition = byte
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: raw.encoded()) } == .invalidCondition)
        #expect(verifyCode(Fixture.envelope(raw.encoded())) == .invalidCondition)
    }

    @Test("every condition code 0...6 round-trips with its name")
    func conditions() throws {
        let names = ["new", "like-new", "good", "fair", "poor", "for-parts", "n/a"]
        #expect(ItemCondition.allCases.map(\.name) == names)
        #expect(ItemCondition.allCases.map(\.rawValue) == Array(0...6))
        for c in ItemCondition.allCases {
            #expect(ItemCondition(name: c.name) == c)
            let l = Fixture.listing(condition: c)
            #expect(try Listing(decoding: l.encoded()).condition == c)
        }
        #expect(ItemCondition(name: "used") == nil)
    }

    @Test("a huge tag count is refused before reading any tag", arguments: [UInt64(11), 1_000, UInt64.max])
    func hugeTagCount(count: UInt64) {
        var raw = RawListing(Fixture.listing(tags: []))
        raw.tagCount = count
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: raw.encoded()) } == .invalidTags)
    }

    @Test("listing format other than 1 is malformed", arguments: [UInt8(0), 2, 0xff])
    func listingFormat(format: UInt8) {
        var raw = RawListing(Fixture.listing())
        raw.format = format
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: raw.encoded()) } == .malformed)
    }

    @Test("invalid UTF-8 in a string field is malformed")
    func invalidUTF8() throws {
        let payload = Fixture.listing(title: "ab").encoded()
        let marker: [UInt8] = [0x02, 0x61, 0x62]  // length 2, "ab"
        let at = try #require(
            payload.indices.dropLast(2).first { Array(payload[$0..<$0 + 3]) == marker })
        for bad: [UInt8] in [[0xc3, 0x28], [0xc0, 0x80], [0xed, 0xa0], [0xff, 0xfe]] {
            var p = payload
            p.replaceSubrange(at + 1..<at + 3, with: bad)
            #expect(refusal { () throws(ValidationError) in try Listing(decoding: p) } == .malformed)
        }
    }

    @Test("a non-minimal varint inside the payload is malformed")
    func nonMinimalInPayload() {
        let payload = Fixture.listing(quantity: 1).encoded()
        // quantity is the varint right before the condition byte and the tag list: ... 01 | 02 | 01 04 road
        let tail: [UInt8] = [0x01, 0x02, 0x01, 0x04] + Array("road".utf8)
        #expect(Array(payload.suffix(tail.count)) == tail)
        var p = Array(payload.dropLast(tail.count))
        p += [0x81, 0x00] + tail.dropFirst()
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: p) } == .malformed)
    }

    @Test("every truncation of a valid payload is malformed")
    func truncatedPayload() {
        let payload = Fixture.listing(description: "Some text", tags: ["a", "b"]).encoded()
        for n in 0..<payload.count {
            #expect(
                refusal { () throws(ValidationError) in try Listing(decoding: Array(payload.prefix(n))) } == .malformed,
                "prefix of \(n) bytes")
        }
    }

    @Test("trailing bytes after the tags are malformed")
    func trailingPayload() {
        let payload = Fixture.listing().encoded()
        #expect(refusal { () throws(ValidationError) in try Listing(decoding: payload + [0]) } == .malformed)
    }

    @Test("the largest well-formed listing payload is 9 465 bytes and fits an envelope")
    func largestListing() throws {
        let t: UInt64 = 1 << 63  // 10-byte varints
        let l = Fixture.listing(
            version: UInt64(UInt32.max), createdAt: t, updatedAt: t, expiresAt: t + 30 * Self.day,
            title: String(repeating: "🚲", count: 140), description: String(repeating: "x", count: 8192),
            price: Money(minorUnits: Money.maxMinorUnits, currency: Fixture.eur),
            category: String(repeating: "c", count: 48), location: String(repeating: "ü", count: 128),
            country: "DE", quantity: 1_000_000, tags: (0..<10).map { String(repeating: "t", count: 31) + "\($0)" })
        try l.validateFields()
        let payload = l.encoded()
        #expect(payload.count == 9_465)
        #expect(try Listing(decoding: payload) == l)
        let env = Fixture.envelope(payload)
        #expect(try Envelope(decoding: env).payload == payload)
        // Signed in the far future, so only the clock refuses it.
        #expect(verifyCode(env, now: Fixture.now) == .fromTheFuture)
        #expect(verifyCode(env, now: t) == nil)
    }

    // MARK: Listing id

    @Test("the listing id depends on seller and salt, not on version or content")
    func listingID() {
        let a = Fixture.listing()
        var b = a
        b.version = 2
        b.title = "Another title"
        let pk = Fixture.keyA.publicKey
        #expect(a.id(seller: pk) == b.id(seller: pk))
        #expect(a.id(seller: pk) != a.id(seller: Fixture.keyB.publicKey))
        #expect(a.id(seller: pk) != Fixture.listing(salt: Array(0x60...0x6f)).id(seller: pk))
        #expect(a.id(seller: pk).bytes.count == 16)
        #expect(
            a.id(seller: pk).bytes == Blake2b.hash(Array("souk/listing-id/v1".utf8) + pk + a.salt, outputLength: 16))
        #expect(ListingID(hex: a.id(seller: pk).hex) == a.id(seller: pk))
        #expect(ListingID(hex: "00") == nil)
        #expect(ListingID(bytes: [UInt8](repeating: 0, count: 15)) == nil)
    }
}
