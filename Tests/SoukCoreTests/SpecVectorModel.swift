/// The schema of `Specs/vectors/objects.json`. Keys are snake_case in the file.
struct VectorFile: Codable {
    var about: String
    var listingIdPrefix: String
    var domainTags: [DomainTagVector]
    var varints: [VarintVector]
    var invalidVarints: [InvalidVarintVector]
    var valid: [ValidVector]
    var invalid: [InvalidVector]
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
    var payload: String
    var signedMessage: String
    var signature: String
    var envelope: String
    var objectId: String
    var listingId: String
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
