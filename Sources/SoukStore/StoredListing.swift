import Foundation
import GRDB
public import SoukCore

/// A listing as the store holds it: the verbatim envelope plus the decoded fields search needs.
public struct StoredListing: Sendable, Equatable {
    public let listingID: ListingID
    public let seller: [UInt8]
    public let objectID: ObjectID
    public let envelope: [UInt8]
    public let listing: Listing
    public let receivedAt: UInt64

    init(row: Row) throws {
        let envelopeBytes = (row["envelope"] as Data).bytes
        // Only verified envelopes are ever stored, so re-decoding cannot fail unless the file was
        // edited behind our back; report that instead of trusting the columns.
        let envelope: Envelope
        do {
            envelope = try Envelope(decoding: envelopeBytes)
        } catch {
            throw StoreCorruption(detail: "stored envelope does not decode: \(error)")
        }
        self.listing = try Listing(decoding: envelope.payload)
        self.listingID = ListingID(bytes: (row["listing_id"] as Data).bytes)!
        self.seller = envelope.signer
        self.objectID = envelope.id
        self.envelope = envelopeBytes
        self.receivedAt = UInt64(row["received_at"] as Int64)
    }
}

/// A stored tombstone.
public struct StoredRetraction: Sendable, Equatable {
    public let listingID: ListingID
    public let seller: [UInt8]
    public let objectID: ObjectID
    public let envelope: [UInt8]
    public let retractedAt: UInt64
}

/// The database holds something that does not decode.
public struct StoreCorruption: Error, Sendable, CustomStringConvertible {
    public let detail: String
    public var description: String { "database corruption: \(detail)" }
}
