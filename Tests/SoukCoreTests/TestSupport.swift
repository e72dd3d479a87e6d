import SoukCore
import SoukCrypto

/// Shared fixtures for the SoukCore tests: fixed keys, a valid base listing, and encoders that can
/// write payloads and envelopes the real encoders refuse to produce.
enum Fixture {
    /// 2026-01-01T00:00:00Z.
    static let t0: UInt64 = 1_767_225_600
    /// The verifier clock the fixtures are valid at: t0 + 2 h.
    static let now: UInt64 = t0 + 7_200
    static let day: UInt64 = 86_400

    /// Seed 0x01...0x20.
    static let seedA: [UInt8] = Array(1...32)
    /// Seed 0x21...0x40.
    static let seedB: [UInt8] = Array(33...64)
    static let keyA = try! SigningKey(seed: seedA)
    static let keyB = try! SigningKey(seed: seedB)

    static let salt: [UInt8] = Array(0x50...0x5f)

    static let eur = Currency(code: "EUR")!
    static let btc = Currency(code: "BTC")!

    /// A listing valid at `now`; tests change one field at a time.
    static func listing(
        salt: [UInt8] = Fixture.salt, version: UInt64 = 1, createdAt: UInt64 = t0, updatedAt: UInt64 = t0,
        expiresAt: UInt64 = t0 + 14 * day, title: String = "Road bike", description: String = "",
        price: Money = Money(minorUnits: 12_000, currency: Fixture.eur), category: String = "bikes",
        location: String = "Berlin", country: String = "DE", quantity: UInt64 = 1,
        condition: ItemCondition = .good, tags: [String] = ["road"]
    ) -> Listing {
        Listing(
            salt: salt, version: version, createdAt: createdAt, updatedAt: updatedAt, expiresAt: expiresAt,
            title: title, description: description, price: price, category: category, location: location,
            country: country, quantity: quantity, condition: condition, tags: tags)
    }

    /// Signs `payload` as `kind` with `key` and returns the envelope bytes.
    static func envelope(_ payload: [UInt8], kind: ObjectKind = .listing, key: SigningKey = keyA) -> [UInt8] {
        Envelope(kind: kind, payload: payload, signingKey: key).bytes
    }
}

/// Listing fields as raw wire values, so a test can write a currency code or condition byte that
/// `Listing` cannot hold. `encoded()` follows the payload layout of `Specs/objects.md` field by field.
struct RawListing {
    var format: UInt8 = 1
    var salt: [UInt8]
    var version: UInt64
    var createdAt: UInt64
    var updatedAt: UInt64
    var expiresAt: UInt64
    var title: String
    var description: String
    var priceMinor: UInt64
    var currency: String
    var category: String
    var location: String
    var country: String
    var quantity: UInt64
    var condition: UInt8
    var tags: [String]
    /// Written instead of `tags.count` when set.
    var tagCount: UInt64? = nil

    init(_ l: Listing) {
        salt = l.salt
        version = l.version
        createdAt = l.createdAt
        updatedAt = l.updatedAt
        expiresAt = l.expiresAt
        title = l.title
        description = l.description
        priceMinor = l.price.minorUnits
        currency = l.price.currency.code
        category = l.category
        location = l.location
        country = l.country
        quantity = l.quantity
        condition = l.condition.rawValue
        tags = l.tags
    }

    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.writeByte(format)
        w.writeBytes(salt)
        for v in [version, createdAt, updatedAt, expiresAt] { w.writeVarint(v) }
        w.writeString(title)
        w.writeString(description)
        w.writeVarint(priceMinor)
        w.writeString(currency)
        w.writeString(category)
        w.writeString(location)
        w.writeString(country)
        w.writeVarint(quantity)
        w.writeByte(condition)
        w.writeVarint(tagCount ?? UInt64(tags.count))
        for t in tags { w.writeString(t) }
        return w.bytes
    }
}

/// Writes an envelope field by field, with any header, length prefix or trailer.
func rawEnvelope(
    version: UInt8 = 0x01, kind: UInt8, lengthPrefix: [UInt8]? = nil, payload: [UInt8], signer: [UInt8],
    signature: [UInt8], trailer: [UInt8] = []
) -> [UInt8] {
    var w = ByteWriter()
    w.writeByte(version)
    w.writeByte(kind)
    if let lengthPrefix { w.writeBytes(lengthPrefix) } else { w.writeVarint(UInt64(payload.count)) }
    w.writeBytes(payload)
    w.writeBytes(signer)
    w.writeBytes(signature)
    w.writeBytes(trailer)
    return w.bytes
}

/// Runs `body` and returns the code of the `ValidationError` it threw, or `nil` if it succeeded.
func refusal<T>(_ body: () throws(ValidationError) -> T) -> ValidationError.Code? {
    do {
        _ = try body()
        return nil
    } catch {
        return error.code
    }
}

/// Runs `body` and returns the `DecodingError` it threw, or `nil` if it succeeded.
func decodingFailure<T>(_ body: () throws(DecodingError) -> T) -> DecodingError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// The refusal code of `VerifiedObject(bytes:now:)`, or `nil` if the bytes verify.
func verifyCode(_ bytes: [UInt8], now: UInt64 = Fixture.now) -> ValidationError.Code? {
    refusal { () throws(ValidationError) in try VerifiedObject(bytes: bytes, now: now) }
}

/// Lower-case hex to bytes; traps on bad test data.
func unhex(_ s: String) -> [UInt8] {
    guard let b = Hex.decode(s) else { fatalError("bad hex in test data: \(s)") }
    return b
}

extension VerifiedObject {
    /// The tests' view of a listing-layer object's payload.
    enum Content: Equatable {
        case listing(Listing)
        case retraction(ListingRetraction)
        case other
    }

    var content: Content {
        if let l = payload(as: Listing.self) { return .listing(l) }
        if let r = payload(as: ListingRetraction.self) { return .retraction(r) }
        return .other
    }

    /// The listing a listing or a tombstone is about.
    var listingID: ListingID? {
        switch content {
        case .listing(let l): return l.id(seller: signer)
        case .retraction(let r): return r.id(seller: signer)
        case .other: return nil
        }
    }
}
