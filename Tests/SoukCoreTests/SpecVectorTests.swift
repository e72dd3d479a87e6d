import Foundation
import SoukCore
import SoukCrypto
import Testing

/// Checks `Specs/vectors/objects.json` against the implementation, so the spec cannot drift:
/// every valid vector is rebuilt from its inputs (seed and decoded fields) and compared byte for byte,
/// and every invalid vector must be refused with its stated code.
@Suite("Spec vectors (Specs/vectors/objects.json)")
struct SpecVectorTests {
    static func load() throws -> VectorFile {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Specs/vectors/objects.json"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(VectorFile.self, from: data)
    }

    @Test("the file holds the vectors the spec promises")
    func coverage() throws {
        let file = try Self.load()
        let valid = Set(file.valid.map(\.name))
        for name in [
            "minimal-listing", "full-listing", "full-listing-update", "retraction", "btc-listing",
            "title-combining-marks-140", "title-family-emoji-22", "title-flags-70", "title-mixed-140",
        ] {
            #expect(valid.contains(name), "missing valid vector \(name)")
        }
        let invalid = Set(file.invalid.map(\.name))
        for name in [
            "flipped-payload-bit", "wrong-signer", "non-minimal-varint-envelope-length",
            "non-minimal-varint-in-payload", "trailing-byte-envelope", "unknown-kind", "truncated-envelope",
            "title-too-long", "title-combining-marks-141", "title-mixed-141", "title-flags-71",
            "title-family-emoji-23", "title-family-emoji-140",
        ] {
            #expect(invalid.contains(name), "missing invalid vector \(name)")
        }
        #expect(valid.count == file.valid.count, "valid vector names must be unique")
        #expect(invalid.count == file.invalid.count, "invalid vector names must be unique")
        #expect(file.listingIdPrefix == "souk/listing-id/v1")
    }

    @Test("domain tags: one per kind, \"souk/sig/v1/<name>\" + 0x00")
    func domainTags() throws {
        let file = try Self.load()
        #expect(file.domainTags.count == ObjectRegistry.kinds.count)
        for tag in file.domainTags {
            let kind = try #require(ObjectKind(rawValue: tag.kindByte))
            #expect(kind.name == tag.kind)
            #expect(Hex.encode(kind.domainTag) == tag.hex)
            #expect(kind.domainTag == Array("souk/sig/v1/\(tag.kind)".utf8) + [0x00])
        }
    }

    @Test("varints encode and decode as listed")
    func varints() throws {
        let file = try Self.load()
        #expect(file.varints.count >= 10)
        for v in file.varints {
            let value = try #require(UInt64(v.value))
            var w = ByteWriter()
            w.writeVarint(value)
            #expect(Hex.encode(w.bytes) == v.hex, "encoding \(value)")
            var r = ByteReader(unhex(v.hex))
            #expect(try r.readVarint("v") == value)
            #expect(r.isAtEnd)
        }
    }

    @Test("invalid varints are refused for the stated reason")
    func invalidVarints() throws {
        let file = try Self.load()
        #expect(!file.invalidVarints.isEmpty)
        for v in file.invalidVarints {
            var r = ByteReader(unhex(v.hex))
            let error = decodingFailure { () throws(DecodingError) in try r.readVarint("v") }
            switch v.error {
            case "non_minimal": #expect(error == .nonMinimalVarint(field: "v"), "\(v.hex)")
            case "overflow": #expect(error == .varintOverflow(field: "v"), "\(v.hex)")
            case "truncated": #expect(error == .truncated(field: "v"), "\(v.hex)")
            default: Issue.record("unknown varint error \(v.error) in vector \(v.hex)")
            }
        }
    }

    @Test("character counts are extended grapheme clusters (Unicode 17.0), as String.count")
    func characterCounts() throws {
        let file = try Self.load()
        #expect(file.characterCounts.count >= 5)
        for c in file.characterCounts {
            let context = Comment(rawValue: "character count vector: \(c.comment)")
            #expect(c.text.count == c.characters, context)
            #expect(c.text.unicodeScalars.count == c.unicodeScalars, context)
            #expect(c.text.utf8.count == c.utf8Bytes, context)
        }
    }

    @Test("valid vectors: rebuilt from seed and fields, byte for byte")
    func validVectors() throws {
        let file = try Self.load()
        #expect(!file.valid.isEmpty)
        for v in file.valid {
            try check(v)
        }
    }

    /// A node-profile vector: fields, payload, signature, envelope and id, and that it verifies.
    private func checkProfile(_ v: ValidVector, key: SigningKey) throws {
        let context = Comment(rawValue: "vector \(v.name)")
        let f = try #require(v.profile, context)
        let profile = NodeProfile(
            version: f.version, updatedAt: f.updatedAt, expiresAt: f.expiresAt, displayName: f.displayName,
            avatarHash: unhex(f.avatarHash), addresses: f.addresses.compactMap(HostPort.init),
            mailboxes: f.mailboxes.compactMap(NodeID.init(hex:)), arbiters: f.arbiters.compactMap(NodeID.init(hex:)),
            languages: f.languages)
        #expect(profile.addresses.count == f.addresses.count, context)
        #expect(Hex.encode(profile.encoded()) == v.payload, context)
        #expect(try NodeProfile(decoding: unhex(v.payload)) == profile, context)
        #expect(Hex.encode(ObjectKind.nodeProfile.domainTag + unhex(v.payload)) == v.signedMessage, context)
        let envelope = Envelope(kind: .nodeProfile, payload: unhex(v.payload), signingKey: key)
        #expect(Hex.encode(envelope.signature) == v.signature, context)
        #expect(Hex.encode(envelope.bytes) == v.envelope, context)
        #expect(envelope.id.hex == v.objectId, context)
        let verified = try VerifiedObject(bytes: unhex(v.envelope), now: v.now)
        #expect(verified.payload(as: NodeProfile.self) == profile, context)
    }

    private func check(_ v: ValidVector) throws {
        let context = Comment(rawValue: "vector \(v.name)")
        let key = try SigningKey(seed: unhex(v.seed))
        #expect(Hex.encode(key.publicKey) == v.publicKey, context)

        let kind: ObjectKind
        let expected: VerifiedObject.Content
        let salt: [UInt8]
        if v.kind == "node-profile" {
            try checkProfile(v, key: key)
            return
        }
        switch v.kind {
        case "listing":
            kind = .listing
            let f = try #require(v.listing, context)
            let listing = try listing(from: f, context)
            expected = .listing(listing)
            salt = listing.salt
            #expect(Hex.encode(listing.encoded()) == v.payload, context)
        case "listing-retraction":
            kind = .listingRetraction
            let f = try #require(v.retraction, context)
            #expect(f.format == ListingRetraction.formatVersion, context)
            let retraction = ListingRetraction(salt: unhex(f.salt), retractedAt: f.retractedAt)
            expected = .retraction(retraction)
            salt = retraction.salt
            #expect(Hex.encode(retraction.encoded()) == v.payload, context)
        default:
            Issue.record("unknown kind \(v.kind) in vector \(v.name)")
            return
        }
        let payload = unhex(v.payload)

        // The signed message is the domain tag and the payload bytes, nothing else.
        #expect(Hex.encode(kind.domainTag + payload) == v.signedMessage, context)
        #expect(
            Ed25519.verify(signature: unhex(v.signature), message: unhex(v.signedMessage), publicKey: key.publicKey))

        // Signing is deterministic, so the envelope is reproducible.
        let envelope = Envelope(kind: kind, payload: payload, signingKey: key)
        #expect(Hex.encode(envelope.signature) == v.signature, context)
        #expect(Hex.encode(envelope.bytes) == v.envelope, context)
        #expect(envelope.id.hex == v.objectId, context)
        #expect(Hex.encode(Blake2b.hash(unhex(v.envelope), outputLength: 32)) == v.objectId, context)

        // The listing id is BLAKE2b with a 16-byte output (not a truncated 32-byte hash).
        let idInput = Array("souk/listing-id/v1".utf8) + key.publicKey + salt
        #expect(ListingID(seller: key.publicKey, salt: salt).hex == v.listingId, context)
        #expect(Hex.encode(Blake2b.hash(idInput, outputLength: 16)) == v.listingId, context)
        #expect(Hex.encode(Blake2b.hash256(idInput).prefix(16)) != v.listingId, context)

        // Decoding and full verification give back the same content.
        let verified = try VerifiedObject(bytes: unhex(v.envelope), now: v.now)
        #expect(verified.content == expected, context)
        #expect(verified.id.hex == v.objectId, context)
        #expect(verified.listingID?.hex == v.listingId, context)
        #expect(verified.signer == key.publicKey, context)
        #expect(verified.envelope.payload == payload, context)
        #expect(verified.envelope.bytes == unhex(v.envelope), context)
    }

    private func listing(from f: ListingFields, _ context: Comment) throws -> Listing {
        #expect(f.format == Listing.formatVersion, context)
        let currency = try #require(Currency(code: f.price.currency), context)
        #expect(currency.exponent == f.price.exponent, context)
        let condition = try #require(ItemCondition(rawValue: f.conditionCode), context)
        #expect(ItemCondition(name: f.condition) == condition, context)
        let price = Money(minorUnits: f.price.minorUnits, currency: currency)
        #expect(price.decimalString == f.price.decimal, context)
        #expect(try Money(parsing: f.price.decimal, currency: currency) == price, context)
        return Listing(
            salt: unhex(f.salt), version: f.version, createdAt: f.createdAt, updatedAt: f.updatedAt,
            expiresAt: f.expiresAt, title: f.title, description: f.description, price: price, category: f.category,
            location: f.location, country: f.country, quantity: f.quantity, condition: condition, tags: f.tags)
    }

    @Test("invalid vectors are refused with the stated code")
    func invalidVectors() throws {
        let file = try Self.load()
        #expect(!file.invalid.isEmpty)
        for v in file.invalid {
            let code = try #require(ValidationError.Code(rawValue: v.error), "unknown code in vector \(v.name)")
            #expect(verifyCode(unhex(v.envelope), now: v.now) == code, "vector \(v.name)")
        }
    }

    @Test("the update and the retraction address the listing they replace or retract")
    func relations() throws {
        let file = try Self.load()
        let byName = Dictionary(uniqueKeysWithValues: file.valid.map { ($0.name, $0) })
        let full = try #require(byName["full-listing"])
        let update = try #require(byName["full-listing-update"])
        let retraction = try #require(byName["retraction"])
        #expect(update.listingId == full.listingId)
        #expect(retraction.listingId == full.listingId)
        #expect(update.objectId != full.objectId)
        let (a, b) = (try #require(full.listing), try #require(update.listing))
        #expect(b.version > a.version)
        #expect(b.createdAt == a.createdAt)
        #expect(b.updatedAt > a.updatedAt)
        #expect(try #require(retraction.retraction).retractedAt >= b.updatedAt)
        // Two sellers with the same salt would still get different ids; distinct salts give distinct ids:
        // only the update and the retraction share full-listing's id.
        #expect(Set(file.valid.map(\.listingId)).count == file.valid.count - 2)
    }
}
