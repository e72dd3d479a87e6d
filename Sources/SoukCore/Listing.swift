/// The payload of a `listing` object, format 1 (see `Specs/objects.md`, "Listing").
///
/// Field order on the wire is the order of the stored properties below. `init(decoding:)` and
/// `validate(now:)` enforce every limit in `Listing.Limits`, so a listing that decodes is well-formed.
public struct Listing: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1

    /// Limits enforced on create and on decode.
    public enum Limits {
        public static let titleMaxCharacters = 140
        public static let titleMaxBytes = 560
        public static let descriptionMaxBytes = 8 * 1024
        public static let categoryMaxBytes = 48
        public static let locationMaxBytes = 256
        public static let locationMaxCharacters = 128
        public static let quantityRange: ClosedRange<UInt64> = 1...1_000_000
        public static let maxTags = 10
        public static let tagMaxBytes = 32
        public static let maxVersion: UInt64 = UInt64(UInt32.max)
        /// `expires_at` is at most this many seconds after `updated_at`.
        public static let maxLifetime: UInt64 = 30 * 24 * 3600
        /// The shared clock rules (`TimeRules`), named here for the listing's own checks.
        public static let maxClockSkew = TimeRules.maxClockSkew
        public static let earliestTimestamp = TimeRules.earliestTimestamp
    }

    public var salt: [UInt8]
    public var version: UInt64
    public var createdAt: UInt64
    public var updatedAt: UInt64
    public var expiresAt: UInt64
    public var title: String
    public var description: String
    public var price: Money
    public var category: String
    public var location: String
    public var country: String
    public var quantity: UInt64
    public var condition: ItemCondition
    public var tags: [String]

    public init(
        salt: [UInt8], version: UInt64, createdAt: UInt64, updatedAt: UInt64, expiresAt: UInt64,
        title: String, description: String, price: Money, category: String, location: String,
        country: String, quantity: UInt64, condition: ItemCondition, tags: [String]
    ) {
        self.salt = salt
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.title = title
        self.description = description
        self.price = price
        self.category = category
        self.location = location
        self.country = country
        self.quantity = quantity
        self.condition = condition
        self.tags = tags
    }

    /// The listing's stable id for a given seller key.
    public func id(seller: [UInt8]) -> ListingID { ListingID(seller: seller, salt: salt) }

    /// The canonical payload bytes.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 128 + description.utf8.count)
        w.writeByte(Listing.formatVersion)
        w.writeBytes(salt)
        w.writeVarint(version)
        w.writeVarint(createdAt)
        w.writeVarint(updatedAt)
        w.writeVarint(expiresAt)
        w.writeString(title)
        w.writeString(description)
        w.writeVarint(price.minorUnits)
        w.writeString(price.currency.code)
        w.writeString(category)
        w.writeString(location)
        w.writeString(country)
        w.writeVarint(quantity)
        w.writeByte(condition.rawValue)
        w.writeVarint(UInt64(tags.count))
        for tag in tags { w.writeString(tag) }
        return w.bytes
    }

    /// Decodes payload bytes and checks every static limit (not the clock; see `validate(now:)`).
    /// - Throws: `ValidationError` with `.malformed` for undecodable bytes, or the failed limit's code.
    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .listing, format: Self.formatVersion) { r in
            try Listing(fieldsOf: &r)
        }
        try validateFields()
    }

    /// The fields after the format byte, in wire order; the caps that need no other field.
    private init(fieldsOf r: inout ByteReader) throws {
        salt = try r.readBytes(ListingID.saltBytes, "salt")
        version = try r.readVarint("version")
        createdAt = try r.readVarint("created_at")
        updatedAt = try r.readVarint("updated_at")
        expiresAt = try r.readVarint("expires_at")
        title = try r.readString("title", maxBytes: Limits.titleMaxBytes)
        description = try r.readString("description", maxBytes: Limits.descriptionMaxBytes)
        let minor = try r.readVarint("price")
        let code = try r.readString("currency", maxBytes: 8)
        guard let currency = Currency(code: code) else {
            throw ValidationError(.unknownCurrency, "unknown currency code \"\(code)\"")
        }
        price = Money(minorUnits: minor, currency: currency)
        category = try r.readString("category", maxBytes: Limits.categoryMaxBytes)
        location = try r.readString("location", maxBytes: Limits.locationMaxBytes)
        country = try r.readString("country", maxBytes: 2)
        quantity = try r.readVarint("quantity")
        let conditionByte = try r.readByte("condition")
        guard let c = ItemCondition(rawValue: conditionByte) else {
            throw ValidationError(.invalidCondition, "unknown condition code \(conditionByte)")
        }
        condition = c
        let tagCount = try r.readVarint("tag count")
        guard tagCount <= UInt64(Limits.maxTags) else {
            throw ValidationError(.invalidTags, "\(tagCount) tags, at most \(Limits.maxTags) allowed")
        }
        tags = try (0..<tagCount).map { _ in try r.readString("tag", maxBytes: Limits.tagMaxBytes) }
    }

    /// Checks the static limits of every field.
    public func validateFields() throws(ValidationError) {
        guard salt.count == ListingID.saltBytes else { throw ValidationError(.malformed, "salt must be 16 bytes") }
        guard version >= 1, version <= Limits.maxVersion else {
            throw ValidationError(.invalidVersion, "version must be between 1 and \(Limits.maxVersion)")
        }
        guard !title.isEmpty, TextRules.characterCount(title, atMost: Limits.titleMaxCharacters),
            title.utf8.count <= Limits.titleMaxBytes
        else {
            throw ValidationError(.invalidTitle, "title must be 1 to \(Limits.titleMaxCharacters) characters")
        }
        guard TextRules.hasVisibleCharacter(title), !title.unicodeScalars.contains("\u{FEFF}") else {
            throw ValidationError(
                .invalidTitle, "title must have a visible character and no byte order mark (U+FEFF)")
        }
        guard !TextRules.hasOuterWhitespace(title), !TextRules.hasControl(title, allowNewlines: false),
            !TextRules.hasSpoofingFormat(title)
        else {
            throw ValidationError(
                .invalidTitle,
                "title must not contain control characters, bidi overrides, line separators or leading/trailing whitespace"
            )
        }
        guard description.utf8.count <= Limits.descriptionMaxBytes else {
            throw ValidationError(
                .invalidDescription, "description is over \(Limits.descriptionMaxBytes) bytes of UTF-8")
        }
        guard !TextRules.hasControl(description, allowNewlines: true) else {
            throw ValidationError(.invalidDescription, "description must not contain control characters")
        }
        guard price.minorUnits <= Money.maxMinorUnits else {
            throw ValidationError(.invalidPrice, "price is over the maximum of \(Money.maxMinorUnits) minor units")
        }
        guard TextRules.isSlug(category, maxBytes: Limits.categoryMaxBytes) else {
            throw ValidationError(
                .invalidCategory,
                "category must be 1 to \(Limits.categoryMaxBytes) characters of a-z, 0-9 and '-', e.g. \"bikes\"")
        }
        guard TextRules.characterCount(location, atMost: Limits.locationMaxCharacters),
            location.utf8.count <= Limits.locationMaxBytes,
            !TextRules.hasControl(location, allowNewlines: false), !TextRules.hasSpoofingFormat(location)
        else {
            throw ValidationError(
                .invalidLocation,
                "location must be at most \(Limits.locationMaxCharacters) characters without control characters")
        }
        guard country.isEmpty || (country.utf8.count == 2 && country.utf8.allSatisfy { $0 >= 65 && $0 <= 90 }) else {
            throw ValidationError(.invalidCountry, "country must be empty or an ISO 3166-1 alpha-2 code such as DE")
        }
        guard Limits.quantityRange.contains(quantity) else {
            throw ValidationError(
                .invalidQuantity,
                "quantity must be between \(Limits.quantityRange.lowerBound) and \(Limits.quantityRange.upperBound)")
        }
        guard tags.count <= Limits.maxTags else {
            throw ValidationError(.invalidTags, "\(tags.count) tags, at most \(Limits.maxTags) allowed")
        }
        for tag in tags where !TextRules.isSlug(tag, maxBytes: Limits.tagMaxBytes) {
            throw ValidationError(
                .invalidTags, "tag \"\(tag)\" must be 1 to \(Limits.tagMaxBytes) characters of a-z, 0-9 and '-'")
        }
        guard Set(tags).count == tags.count else { throw ValidationError(.invalidTags, "tags must be unique") }
        guard createdAt >= Limits.earliestTimestamp, createdAt <= updatedAt else {
            throw ValidationError(.invalidTimestamps, "created_at must be after 2020 and not after updated_at")
        }
        guard expiresAt > updatedAt, expiresAt - updatedAt <= Limits.maxLifetime else {
            throw ValidationError(.invalidTimestamps, "expires_at must be after updated_at and at most 30 days later")
        }
    }

    /// Checks the clock-dependent rules: not signed in the future beyond the skew, not expired.
    public func validate(now: UInt64) throws(ValidationError) {
        try validateFields()
        guard updatedAt <= now + Limits.maxClockSkew else {
            throw ValidationError(.fromTheFuture, "listing is dated \(updatedAt - now) s in the future")
        }
        guard expiresAt > now else { throw ValidationError(.expired, "listing expired at \(expiresAt)") }
    }
}

extension ObjectKind {
    /// Kind 1: a listing (`Listing`).
    public static let listing = ObjectKind(rawValue: 1, name: "listing")
}

extension Listing: ObjectPayload {
    public static var kind: ObjectKind { .listing }
    public static var maxPayloadBytes: Int { 16 * 1024 }
    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) { try validate(now: now) }
    /// `updated_at`: a new version sorts after the one it replaces.
    public var timestamp: UInt64 { updatedAt }
    public var retainUntil: UInt64? { expiresAt }
    public var replaceableVersion: UInt64? { version }
}

/// Small text predicates shared by the object rules.
enum TextRules {
    /// True if `s` has a Unicode control character (Cc); `\n` and `\t` pass when `allowNewlines`.
    /// Cc is exactly U+0000–U+001F and U+007F–U+009F (a stable Unicode property), so this is a
    /// range check on UTF-8 bytes: C0 and DEL are single bytes, C1 is 0xC2 0x80–0x9F.
    static func hasControl(_ s: String, allowNewlines: Bool) -> Bool {
        var previous: UInt8 = 0
        for byte in s.utf8 {
            defer { previous = byte }
            if byte < 0x20 {
                if allowNewlines && (byte == 0x0A || byte == 0x09) { continue }
                return true
            }
            if byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) { return true }
        }
        return false
    }

    /// Whether `s` has at most `limit` characters (grapheme clusters); counts them only when the
    /// UTF-8 length alone does not settle it.
    static func characterCount(_ s: String, atMost limit: Int) -> Bool {
        s.utf8.count <= limit || s.count <= limit
    }

    /// True if some character of `s` shows: not whitespace, not an invisible format character
    /// (general category Cf, such as U+200B ZERO WIDTH SPACE or U+2060 WORD JOINER).
    static func hasVisibleCharacter(_ s: String) -> Bool {
        s.unicodeScalars.contains { c in
            !c.properties.isWhitespace && c.properties.generalCategory != .format
                && c.properties.generalCategory != .control
        }
    }

    /// True if `s` starts or ends with a whitespace character.
    static func hasOuterWhitespace(_ s: String) -> Bool {
        (s.first?.isWhitespace ?? false) || (s.last?.isWhitespace ?? false)
    }

    /// True for the characters that can make one-line text display as something else: the bidi
    /// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the line and paragraph
    /// separators (U+2028, U+2029). Refused in titles and locations.
    static func hasSpoofingFormat(_ s: String) -> Bool {
        s.unicodeScalars.contains { c in
            (0x202A...0x202E).contains(c.value) || (0x2066...0x2069).contains(c.value) || c.value == 0x2028
                || c.value == 0x2029
        }
    }

    /// 1...maxBytes of `a-z`, `0-9`, `-`, not starting or ending with `-`.
    static func isSlug(_ s: String, maxBytes: Int) -> Bool {
        let u = s.utf8
        guard !u.isEmpty, u.count <= maxBytes, u.first != 45, u.last != 45 else { return false }
        return u.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }
}
