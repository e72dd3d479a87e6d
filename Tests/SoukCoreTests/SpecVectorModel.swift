/// The schema of `Specs/vectors/objects.json`. Keys are snake_case in the file.
struct VectorFile: Codable {
    var about: String
    var listingIdPrefix: String
    var domainTags: [DomainTagVector]
    var varints: [VarintVector]
    var invalidVarints: [InvalidVarintVector]
    var valid: [ValidVector]
    var invalid: [InvalidVector]
    var characterCounts: [CharacterCountVector]
}

struct DomainTagVector: Codable {
    var kind: String
    var kindByte: UInt8
    var hex: String
}

/// `value` is a decimal string because 2^64 − 1 does not fit a JSON number exactly.
struct VarintVector: Codable {
    var value: String
    var hex: String
}

/// `error` is one of `non_minimal`, `overflow`, `truncated`.
struct InvalidVarintVector: Codable {
    var hex: String
    var error: String
}

struct ValidVector: Codable {
    var name: String
    var comment: String
    var kind: String
    var now: UInt64
    var seed: String
    var publicKey: String
    var listing: ListingFields?
    var retraction: RetractionFields?
    var profile: ProfileFields?
    var payload: String
    var signedMessage: String
    var signature: String
    var envelope: String
    var objectId: String
    /// Listings and retractions only.
    var listingId: String?
}

struct ListingFields: Codable {
    var format: UInt8
    var salt: String
    var version: UInt64
    var createdAt: UInt64
    var updatedAt: UInt64
    var expiresAt: UInt64
    var title: String
    var description: String
    var price: PriceFields
    var category: String
    var location: String
    var country: String
    var quantity: UInt64
    var condition: String
    var conditionCode: UInt8
    var tags: [String]
}

struct PriceFields: Codable {
    var minorUnits: UInt64
    var currency: String
    var exponent: Int
    var decimal: String
}

struct ProfileFields: Codable {
    var format: UInt8
    var version: UInt64
    var updatedAt: UInt64
    var expiresAt: UInt64
    var displayName: String
    var avatarHash: String
    var addresses: [String]
    var mailboxes: [String]
    var arbiters: [String]
    var languages: [String]
}

struct RetractionFields: Codable {
    var format: UInt8
    var salt: String
    var retractedAt: UInt64
}

/// `error` is a `ValidationError.Code` raw value.
struct InvalidVector: Codable {
    var name: String
    var comment: String
    var now: UInt64
    var envelope: String
    var error: String
}

/// A text and its lengths; `characters` is the number of extended grapheme clusters (Unicode 17.0,
/// Swift's `String.count`), which the title and location limits count.
struct CharacterCountVector: Codable {
    var text: String
    var characters: Int
    var unicodeScalars: Int
    var utf8Bytes: Int
    var comment: String
}
