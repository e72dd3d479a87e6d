import SoukCrypto

/// An envelope whose signature, schema, limits and timestamps have all been checked
/// (DESIGN invariant 2). Only values of this type reach the store or a peer.
public struct VerifiedObject: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case listing(Listing)
        case retraction(ListingRetraction)
    }

    public let envelope: Envelope
    public let content: Content

    public var id: ObjectID { envelope.id }
    public var signer: [UInt8] { envelope.signer }

    /// The object's own time: a listing's `updated_at`, a retraction's `retracted_at`.
    public var timestamp: UInt64 {
        switch content {
        case .listing(let l): return l.updatedAt
        case .retraction(let r): return r.retractedAt
        }
    }

    /// The listing this object is about.
    public var listingID: ListingID {
        switch content {
        case .listing(let l): return l.id(seller: envelope.signer)
        case .retraction(let r): return r.id(seller: envelope.signer)
        }
    }

    /// Decodes and fully verifies envelope bytes.
    /// - Parameters:
    ///   - bytes: the envelope exactly as received.
    ///   - now: the verifier's clock, Unix seconds.
    /// - Throws: `ValidationError`: `.malformed` for bytes that do not decode, `.badSignature`,
    ///   or the code of the failed payload rule.
    public init(bytes: [UInt8], now: UInt64) throws(ValidationError) {
        let envelope: Envelope
        do {
            envelope = try Envelope(decoding: bytes)
        } catch {
            throw ValidationError(.malformed, "malformed envelope: \(error)")
        }
        try self.init(envelope: envelope, now: now)
    }

    /// Verifies an already decoded envelope.
    public init(envelope: Envelope, now: UInt64) throws(ValidationError) {
        guard envelope.hasValidSignature else {
            throw ValidationError(.badSignature, "signature does not verify for signer \(envelope.signer.hexString)")
        }
        switch envelope.kind {
        case .listing:
            let listing = try Listing(decoding: envelope.payload)
            try listing.validate(now: now)
            content = .listing(listing)
        case .listingRetraction:
            let retraction = try ListingRetraction(decoding: envelope.payload)
            try retraction.validate(now: now)
            content = .retraction(retraction)
        }
        self.envelope = envelope
    }
}

extension Array where Element == UInt8 {
    var hexString: String { Hex.encode(self) }
}
