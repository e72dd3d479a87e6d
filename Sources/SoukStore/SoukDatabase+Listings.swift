public import SoukCore
import GRDB
import Foundation

/// What `apply` did with a verified object. Only `.inserted`, `.updated` and `.retracted`
/// change the store; those are the outcomes a node relays.
public enum ApplyOutcome: Sendable, Equatable {
    case inserted
    case updated(fromVersion: UInt64)
    case retracted
    /// The exact same envelope is already held.
    case duplicate
    /// A version at or above this one is already held.
    case stale(currentVersion: UInt64)
    /// The listing has a tombstone; every version of it is refused.
    case alreadyRetracted
    /// The seller already has `limit` active listings.
    case quotaExceeded(limit: Int)

    public var changedStore: Bool {
        switch self {
        case .inserted, .updated, .retracted: return true
        default: return false
        }
    }
}

extension SoukDatabase {
    /// Per-author quota: listings one seller key may hold on this node (expired ones count until the
    /// sweeper prunes them, within a minute; counting them keeps the check an index-only lookup).
    public static let defaultMaxActiveListingsPerSeller = 1_000

    /// Stores a verified listing or retraction in one transaction.
    ///
    /// Rules: a retraction is final and removes the listing; a listing replaces the held one only
    /// with a strictly higher version and the same `created_at`; a new listing counts against the
    /// seller's quota of active listings.
    /// - Parameters:
    ///   - object: a `VerifiedObject` (nothing unverified reaches the store).
    ///   - now: Unix seconds, recorded as `received_at` and used for the quota's notion of active.
    ///   - maxActivePerSeller: the per-author quota.
    public func apply(
        _ object: VerifiedObject, now: UInt64, maxActivePerSeller: Int = defaultMaxActiveListingsPerSeller
    ) throws -> ApplyOutcome {
        try writer.write { db in try Self.applyOne(object, db: db, now: now, quota: maxActivePerSeller) }
    }

    /// Stores many verified objects in one transaction, with the same rules as `apply`, in order.
    /// Ingest from peers uses this: one commit (and one full-text flush) per batch, not per object.
    /// - Returns: one outcome per object.
    public func applyBatch(
        _ objects: [VerifiedObject], now: UInt64, maxActivePerSeller: Int = defaultMaxActiveListingsPerSeller
    ) throws -> [ApplyOutcome] {
        guard !objects.isEmpty else { return [] }
        return try writer.write { db in
            try objects.map { try Self.applyOne($0, db: db, now: now, quota: maxActivePerSeller) }
        }
    }

    /// The rules of `apply`, inside a transaction. Statements are cached per connection.
    static func applyOne(_ object: VerifiedObject, db: Database, now: UInt64, quota: Int) throws -> ApplyOutcome {
        let listingID = object.listingID.bytes.data
        if let held = try Data.fetchOne(
            db.cachedStatement(sql: "SELECT object_id FROM retractions WHERE listing_id = ?"), arguments: [listingID])
        {
            return held.bytes == object.id.bytes ? .duplicate : .alreadyRetracted
        }
        let current = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT rowid, version, object_id, created_at FROM listings WHERE listing_id = ?"),
            arguments: [listingID])
        switch object.content {
        case .retraction(let retraction):
            if current == nil {
                // A tombstone for a listing we never saw still counts against its author's quota,
                // so one key cannot fill the store with tombstones.
                let held = try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT COUNT(*) FROM retractions WHERE seller = ?"),
                    arguments: [object.signer.data]) ?? 0
                guard held < quota else { return .quotaExceeded(limit: quota) }
            }
            try db.cachedStatement(
                sql: """
                    INSERT INTO retractions (listing_id, seller, object_id, envelope, retracted_at, received_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                listingID, object.signer.data, object.id.bytes.data, object.envelope.bytes.data,
                Int64(retraction.retractedAt), Int64(now),
            ])
            try db.cachedStatement(sql: "DELETE FROM listings WHERE listing_id = ?").execute(arguments: [listingID])
            return .retracted
        case .listing(let listing):
            if let current {
                let heldVersion = UInt64(current["version"] as Int64)
                if (current["object_id"] as Data).bytes == object.id.bytes { return .duplicate }
                guard listing.version > heldVersion else { return .stale(currentVersion: heldVersion) }
                guard UInt64(current["created_at"] as Int64) == listing.createdAt else {
                    return .stale(currentVersion: heldVersion)
                }
                try db.cachedStatement(
                    sql: """
                        UPDATE listings SET object_id = ?, envelope = ?, version = ?, title = ?, description = ?,
                            price_minor = ?, currency = ?, category = ?, location = ?, country = ?, quantity = ?,
                            condition = ?, tags = ?, created_at = ?, updated_at = ?, expires_at = ?,
                            received_at = ?
                        WHERE rowid = ?
                        """
                ).execute(
                    arguments: StatementArguments(
                        Array(Self.columns(object, listing, now: now).dropFirst(2)) + [current["rowid"] as Int64]))
                return .updated(fromVersion: heldVersion)
            }
            let active = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT COUNT(*) FROM listings WHERE seller = ?"),
                arguments: [object.signer.data]) ?? 0
            guard active < quota else { return .quotaExceeded(limit: quota) }
            let rowid = try freeRowID(for: listing, id: object.listingID, db: db)
            try db.cachedStatement(
                sql: """
                    INSERT INTO listings (rowid, listing_id, seller, object_id, envelope, version, title, description,
                        price_minor, currency, category, location, country, quantity, condition, tags,
                        created_at, updated_at, expires_at, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: StatementArguments([rowid] + Self.columns(object, listing, now: now)))
            return .inserted
        }
    }

    /// Row ids follow creation time: `created_at << 20`, plus the arrival order among listings
    /// created in the same second. The full-text index walks row ids, so "the newest matches" means
    /// newest by `created_at`, whatever order listings arrived in (a node catching up receives old
    /// ones last).
    static func freeRowID(for listing: Listing, id: ListingID, db: Database) throws -> Int64 {
        let base = Int64(listing.createdAt) << 20
        let top = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT MAX(rowid) FROM listings WHERE rowid BETWEEN ? AND ?"),
            arguments: [base, base + (1 << 20) - 1])
        guard let top else { return base }
        guard top < base + (1 << 20) - 1 else { throw StoreCorruption(detail: "over a million listings in one second") }
        return top + 1
    }

    private static func columns(_ object: VerifiedObject, _ l: Listing, now: UInt64) -> [(any DatabaseValueConvertible)?] {
        [
            object.listingID.bytes.data, object.signer.data, object.id.bytes.data, object.envelope.bytes.data,
            Int64(l.version), l.title, l.description, Int64(l.price.minorUnits), l.price.currency.code, l.category,
            l.location, l.country, Int64(l.quantity), Int64(l.condition.rawValue), l.tags.joined(separator: " "),
            Int64(l.createdAt), Int64(l.updatedAt), Int64(l.expiresAt), Int64(now),
        ]
    }

    /// The held version of a listing, expired or not; `nil` if unknown or retracted.
    public func listing(_ id: ListingID) throws -> StoredListing? {
        try writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM listings WHERE listing_id = ?", arguments: [id.bytes.data])
                .map(StoredListing.init(row:))
        }
    }

    /// The tombstone of a listing, if it was retracted.
    public func retraction(_ id: ListingID) throws -> StoredRetraction? {
        try writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM retractions WHERE listing_id = ?", arguments: [id.bytes.data]).map
            { row in
                StoredRetraction(
                    listingID: id, seller: (row["seller"] as Data).bytes,
                    objectID: ObjectID(bytes: (row["object_id"] as Data).bytes),
                    envelope: (row["envelope"] as Data).bytes, retractedAt: UInt64(row["retracted_at"] as Int64))
            }
        }
    }

    /// A seller's unexpired listings, newest first.
    public func listings(seller: [UInt8], now: UInt64, limit: Int = 1_000) throws -> [StoredListing] {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM listings WHERE seller = ? AND expires_at > ?
                    ORDER BY rowid DESC LIMIT ?
                    """,
                arguments: [seller.data, Int64(now), limit]
            ).map(StoredListing.init(row:))
        }
    }

    /// Deletes expired listings and tombstones old enough that no version they cover can still be
    /// valid (`retracted_at` + 30 days + clock skew). One transaction.
    /// - Returns: the number of listings and tombstones removed.
    @discardableResult
    public func pruneExpired(now: UInt64) throws -> (listings: Int, retractions: Int) {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM listings WHERE expires_at <= ?", arguments: [Int64(now)])
            let listings = db.changesCount
            let horizon = Int64(now) - Int64(Listing.Limits.maxLifetime + 2 * Listing.Limits.maxClockSkew)
            try db.execute(sql: "DELETE FROM retractions WHERE retracted_at < ?", arguments: [horizon])
            return (listings, db.changesCount)
        }
    }

    /// Refreshes the query planner's statistics when the tables changed enough (`PRAGMA optimize`),
    /// so filter searches keep choosing good indexes as the data grows. Cheap when nothing changed.
    public func optimize() throws {
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA optimize") }
    }

    /// Counts of unexpired listings and held tombstones.
    public func counts(now: UInt64) throws -> (listings: Int, retractions: Int) {
        try writer.read { db in
            let l = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM listings WHERE expires_at > ?", arguments: [Int64(now)])
            let r = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM retractions")
            return (l ?? 0, r ?? 0)
        }
    }
}
