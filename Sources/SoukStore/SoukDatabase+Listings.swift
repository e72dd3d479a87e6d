import Foundation
import GRDB
public import SoukCore

/// Listings (kind 1): one row per listing id in `listings` (with its full-text index), holding
/// the current version; a higher version with the same `created_at` replaces it; a listing with a
/// tombstone is refused; a new listing takes one slot of its seller's quota.
enum ListingApplier: ObjectApplier {
    static var kind: ObjectKind { .listing }
    static var indexTable: String? { "listings" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let listing = w.object.payload(as: Listing.self) else { return .rejected(wrongKind(w.object)) }
        let db = w.db
        let listingID = listing.id(seller: w.object.signer)
        if try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM retractions WHERE listing_id = ?)"),
            arguments: [listingID.bytes.data]) == true
        {
            return .alreadyRetracted
        }
        if let current = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT rowid, version, object_id, created_at FROM listings WHERE listing_id = ?"),
            arguments: [listingID.bytes.data])
        {
            let heldVersion = UInt64(current["version"] as Int64)
            guard listing.version > heldVersion, UInt64(current["created_at"] as Int64) == listing.createdAt else {
                return .stale(currentVersion: heldVersion)
            }
            _ = try w.store(
                replacing: [ObjectID(bytes: (current["object_id"] as Data).bytes)], countsAgainstQuota: false)
            try db.cachedStatement(
                sql: """
                    UPDATE listings SET object_id = ?, version = ?, title = ?, description = ?,
                        price_minor = ?, currency = ?, category = ?, location = ?, country = ?, quantity = ?,
                        condition = ?, tags = ?, created_at = ?, updated_at = ?, expires_at = ?,
                        received_at = ?
                    WHERE rowid = ?
                    """
            ).execute(
                arguments: StatementArguments(
                    Array(columns(w.object, listing, now: w.now).dropFirst(2)) + [current["rowid"] as Int64]))
            return .updated(fromVersion: heldVersion)
        }
        guard try w.store(replacing: [], countsAgainstQuota: true) else { return w.quotaExceeded }
        // A renewed listing of this node's own leaves the expired copy behind.
        try db.cachedStatement(sql: "DELETE FROM own_expired WHERE listing_id = ?").execute(arguments: [
            listingID.bytes.data
        ])
        let rowid = try SoukDatabase.freeRowID(for: listing, db: db)
        try db.cachedStatement(
            sql: """
                INSERT INTO listings (rowid, listing_id, seller, object_id, version, title, description,
                    price_minor, currency, category, location, country, quantity, condition, tags,
                    created_at, updated_at, expires_at, received_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: StatementArguments([rowid] + columns(w.object, listing, now: w.now)))
        return .inserted
    }

    private static func columns(_ object: VerifiedObject, _ l: Listing, now: UInt64) -> [(
        any DatabaseValueConvertible
    )?] {
        [
            l.id(seller: object.signer).bytes.data, object.signer.data, object.id.bytes.data,
            Int64(l.version), l.title, l.description, Int64(l.price.minorUnits), l.price.currency.code, l.category,
            l.location, l.country, Int64(l.quantity), Int64(l.condition.rawValue), l.tags.joined(separator: " "),
            Int64(l.createdAt), Int64(l.updatedAt), Int64(l.expiresAt), Int64(now),
        ]
    }
}

/// Tombstones (kind 2): final. Storing one removes the listing it covers; one that covers a listing
/// this node never held takes a slot of its seller's tombstone quota, so one key cannot fill the
/// store with them.
enum RetractionApplier: ObjectApplier {
    static var kind: ObjectKind { .listingRetraction }
    static var indexTable: String? { "retractions" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let retraction = w.object.payload(as: ListingRetraction.self) else {
            return .rejected(wrongKind(w.object))
        }
        let db = w.db
        let listingID = retraction.id(seller: w.object.signer).bytes.data
        if try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM retractions WHERE listing_id = ?)"),
            arguments: [listingID]) == true
        {
            return .alreadyRetracted
        }
        let covered = try Data.fetchOne(
            db.cachedStatement(sql: "SELECT object_id FROM listings WHERE listing_id = ?"), arguments: [listingID])
        if let covered {
            _ = try w.store(replacing: [ObjectID(bytes: covered.bytes)], countsAgainstQuota: false)
            try db.cachedStatement(sql: "DELETE FROM listings WHERE listing_id = ?").execute(arguments: [listingID])
        } else {
            guard try w.store(replacing: [], countsAgainstQuota: true) else { return w.quotaExceeded }
        }
        try db.cachedStatement(sql: "DELETE FROM own_expired WHERE listing_id = ?").execute(arguments: [listingID])
        try db.cachedStatement(
            sql: """
                INSERT INTO retractions (listing_id, seller, object_id, retracted_at, received_at)
                VALUES (?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            listingID, w.object.signer.data, w.object.id.bytes.data, Int64(retraction.retractedAt), Int64(w.now),
        ])
        return .retracted
    }
}

/// The refusal for an object handed to another kind's applier (a programming error, not a peer's).
func wrongKind(_ object: VerifiedObject) -> ValidationError {
    ValidationError(.wrongKind, "object of kind \(object.kind) given to another kind's rules")
}

extension SoukDatabase {
    /// Per-author quota: listings one seller key may hold on this node (expired ones count until the
    /// sweeper prunes them, within a minute).
    public static let defaultMaxActiveListingsPerSeller = 1_000

    /// The columns of a stored listing: its index row and its envelope.
    static let listingSelect = "SELECT l.*, o.envelope FROM listings l JOIN objects o ON o.id = l.object_id"

    /// Row ids follow creation time: `created_at << 20`, plus the arrival order among listings
    /// created in the same second. The full-text index walks row ids, so "the newest matches" means
    /// newest by `created_at`, whatever order listings arrived in (a node catching up receives old
    /// ones last).
    static func freeRowID(for listing: Listing, db: Database) throws -> Int64 {
        let base = Int64(listing.createdAt) << 20
        let top = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT MAX(rowid) FROM listings WHERE rowid BETWEEN ? AND ?"),
            arguments: [base, base + (1 << 20) - 1])
        guard let top else { return base }
        guard top < base + (1 << 20) - 1 else { throw StoreCorruption(detail: "over a million listings in one second") }
        return top + 1
    }

    /// The held version of a listing, expired or not; `nil` if unknown or retracted.
    public func listing(_ id: ListingID) throws -> StoredListing? {
        try writer.read { db in
            try Row.fetchOne(db, sql: "\(Self.listingSelect) WHERE l.listing_id = ?", arguments: [id.bytes.data])
                .map(StoredListing.init(row:))
        }
    }

    /// The tombstone of a listing, if it was retracted.
    public func retraction(_ id: ListingID) throws -> StoredRetraction? {
        try writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT r.*, o.envelope FROM retractions r JOIN objects o ON o.id = r.object_id
                    WHERE r.listing_id = ?
                    """,
                arguments: [id.bytes.data]
            ).map { row in
                StoredRetraction(
                    listingID: id, seller: (row["seller"] as Data).bytes,
                    objectID: ObjectID(bytes: (row["object_id"] as Data).bytes),
                    envelope: (row["envelope"] as Data).bytes, retractedAt: UInt64(row["retracted_at"] as Int64))
            }
        }
    }

    /// This node's own listings that expired and were swept (`pruneObjects(keepingListingsOf:)`),
    /// newest expiry first.
    public func ownExpiredListings() throws -> [StoredListing] {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT listing_id, envelope, expired_at AS received_at FROM own_expired ORDER BY expired_at DESC
                    """
            ).map(StoredListing.init(row:))
        }
    }

    /// One expired listing of this node's own, if it was swept.
    public func ownExpiredListing(_ id: ListingID) throws -> StoredListing? {
        try writer.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT listing_id, envelope, expired_at AS received_at FROM own_expired WHERE listing_id = ?",
                arguments: [id.bytes.data]
            ).map(StoredListing.init(row:))
        }
    }

    /// A seller's listings held in the shared tables, newest first: unexpired ones, or with
    /// `includeExpired` also those past their expiry that the sweeper has not removed yet.
    public func listings(seller: [UInt8], now: UInt64, includeExpired: Bool = false, limit: Int = 1_000) throws
        -> [StoredListing]
    {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    \(Self.listingSelect) WHERE l.seller = ? AND l.expires_at > ?
                    ORDER BY l.rowid DESC LIMIT ?
                    """,
                arguments: [seller.data, includeExpired ? -1 : Int64(now), limit]
            ).map(StoredListing.init(row:))
        }
    }

    /// Deletes expired listings and tombstones old enough that no version they cover can still be
    /// valid (`retracted_at` + 30 days + twice the clock skew), with every other object whose
    /// retention ended. One transaction.
    /// - Returns: the number of listings and tombstones removed.
    @discardableResult
    public func pruneExpired(now: UInt64, keepingListingsOf seller: [UInt8]? = nil) throws -> (
        listings: Int, retractions: Int
    ) {
        let removed = try pruneObjects(now: now, keepingListingsOf: seller)
        return (removed[.listing] ?? 0, removed[.listingRetraction] ?? 0)
    }

    /// Refreshes the query planner's statistics when the tables changed enough (`PRAGMA optimize`),
    /// so filter searches keep choosing good indexes as the data grows. Cheap when nothing changed.
    public func optimize() throws {
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA optimize") }
    }

    /// What `node.info` reports, in one read: objects held per kind (running totals), and the
    /// unexpired listings among them (less those past `expires_at` the sweeper has not removed yet,
    /// an index range it keeps short).
    public func summary(now: UInt64) throws -> (objects: [ObjectKind: Int], activeListings: Int) {
        try writer.read { db in
            let objects = try Self.objectCounts(db)
            let expired =
                try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT COUNT(*) FROM listings WHERE expires_at <= ?"),
                    arguments: [Int64(now)])
                ?? 0
            return (objects, (objects[.listing] ?? 0) - expired)
        }
    }

    /// Counts of unexpired listings and held tombstones (see `summary`).
    public func counts(now: UInt64) throws -> (listings: Int, retractions: Int) {
        let s = try summary(now: now)
        return (s.activeListings, s.objects[.listingRetraction] ?? 0)
    }
}
