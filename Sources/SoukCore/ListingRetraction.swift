/// The payload of a `listing-retraction` object: a signed tombstone, format 1.
///
/// Layout: `0x01 | salt (16) | varint retracted_at`. A retraction is final: once stored, every
/// version of the listing, older or newer, is refused.
public struct ListingRetraction: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1

    public var salt: [UInt8]
    public var retractedAt: UInt64

    public init(salt: [UInt8], retractedAt: UInt64) {
        self.salt = salt
        self.retractedAt = retractedAt
    }

    public func id(seller: [UInt8]) -> ListingID { ListingID(seller: seller, salt: salt) }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 32)
        w.writeByte(ListingRetraction.formatVersion)
        w.writeBytes(salt)
        w.writeVarint(retractedAt)
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .listingRetraction, format: Self.formatVersion) { r in
            ListingRetraction(
                salt: try r.readBytes(ListingID.saltBytes, "salt"), retractedAt: try r.readVarint("retracted_at"))
        }
    }

    public func validate(now: UInt64) throws(ValidationError) {
        try TimeRules.check(retractedAt, "retracted_at", now: now)
    }

    /// How long a tombstone is kept: no version signed before it can still be valid after
    /// `retracted_at` + the longest listing lifetime + twice the clock skew (`objects.md` §11).
    public static let retention = Listing.Limits.maxLifetime + 2 * TimeRules.maxClockSkew
}

extension ObjectKind {
    /// Kind 2: a listing's tombstone (`ListingRetraction`).
    public static let listingRetraction = ObjectKind(rawValue: 2, name: "listing-retraction")
}

extension ListingRetraction: ObjectPayload {
    public static var kind: ObjectKind { .listingRetraction }
    public static var maxPayloadBytes: Int { 64 }
    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) { try validate(now: now) }
    public var timestamp: UInt64 { retractedAt }
    /// Kept through the last second of the horizon: forgotten once `retracted_at + retention < now`.
    public var retainUntil: UInt64? { retractedAt + Self.retention + 1 }
}
