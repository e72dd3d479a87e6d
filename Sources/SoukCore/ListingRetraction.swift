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
        do {
            var r = ByteReader(payload)
            let format = try r.readByte("retraction format")
            guard format == ListingRetraction.formatVersion else {
                throw DecodingError.unsupportedVersion(what: "listing-retraction", version: format)
            }
            salt = try r.readBytes(ListingID.saltBytes, "salt")
            retractedAt = try r.readVarint("retracted_at")
            try r.expectEnd("listing-retraction")
        } catch {
            throw ValidationError(.malformed, "malformed listing-retraction: \(error)")
        }
    }

    public func validate(now: UInt64) throws(ValidationError) {
        guard retractedAt >= Listing.Limits.earliestTimestamp else {
            throw ValidationError(.invalidTimestamps, "retracted_at is before 2020")
        }
        guard retractedAt <= now + Listing.Limits.maxClockSkew else {
            throw ValidationError(.fromTheFuture, "retraction is dated \(retractedAt - now) s in the future")
        }
    }
}
