import Foundation
import GRDB
public import SoukCore
import SoukCrypto

/// What `apply` did with a verified object. Only `.inserted`, `.updated` and `.retracted`
/// change the store; those are the outcomes a node relays.
public enum ApplyOutcome: Sendable, Equatable {
    case inserted
    /// A newer version replaced the held one.
    case updated(fromVersion: UInt64)
    /// A tombstone was stored (and the listing it covers removed).
    case retracted
    /// The exact same envelope is already held.
    case duplicate
    /// A version at or above this one is already held.
    case stale(currentVersion: UInt64)
    /// The listing has a tombstone; every version of it is refused.
    case alreadyRetracted
    /// The signer already holds `limit` objects of this kind.
    case quotaExceeded(limit: Int)
    /// Refused against stored state; `error.misbehaving` says whether the sender is to blame.
    case rejected(ValidationError)
    /// Needs this dependency first; nothing was stored (the node keeps the object waiting).
    case deferred(ObjectDependency)

    public var changedStore: Bool {
        switch self {
        case .inserted, .updated, .retracted: return true
        default: return false
        }
    }
}

/// Objects one signer may hold per kind on this node (DESIGN invariant 2: author quotas), keyed by
/// kind byte. A kind without an entry has no count limit. Node policy, not part of the format.
public struct ObjectQuotas: Sendable, Equatable {
    public var perSigner: [UInt8: Int]

    public init(perSigner: [UInt8: Int]) { self.perSigner = perSigner }

    /// 1 000 listings and 1 000 tombstones per seller key, one profile and one arbiter profile per
    /// node key, 10 000 orders (other trade steps are bounded per trade) and 20 000 chat messages
    /// per signer.
    public static let `default` = ObjectQuotas(perSigner: [
        ObjectKind.listing.rawValue: 1_000, ObjectKind.listingRetraction.rawValue: 1_000,
        ObjectKind.nodeProfile.rawValue: 1, ObjectKind.arbiterProfile.rawValue: 1,
        ObjectKind.tradeStep.rawValue: 10_000, ObjectKind.chatMessage.rawValue: 20_000,
        ObjectKind.logEntry.rawValue: 100_000,
    ])

    public func limit(_ kind: ObjectKind) -> Int? { perSigner[kind.rawValue] }
}

/// A kind's rules against stored state and its index tables: the store's half of "a kind is a
/// type". `apply` runs inside the write transaction after the generic duplicate check; it decides,
/// stores the envelope through `ObjectWriter.store` and maintains its own index rows.
protocol ObjectApplier: Sendable {
    static var kind: ObjectKind { get }
    /// The index table whose `object_id` rows go when their objects expire; `nil` if none.
    static var indexTable: String? { get }
    static func apply(_ writer: ObjectWriter) throws -> ApplyOutcome
}

/// What an applier may do to the generic object table while applying one object.
struct ObjectWriter {
    let db: Database
    let object: VerifiedObject
    let now: UInt64
    let quotas: ObjectQuotas

    /// Stores the envelope in `objects`, removing the objects it replaces, and keeps the totals.
    /// - Parameters:
    ///   - replacing: ids of held objects this one supersedes (an older version, a covered listing).
    ///   - countsAgainstQuota: whether it takes a new slot of the signer's quota for its kind.
    /// - Returns: false, storing nothing, when the signer's quota for the kind is full.
    func store(replacing: [ObjectID], countsAgainstQuota: Bool) throws -> Bool {
        let kind = object.kind
        if countsAgainstQuota, let limit = quotas.limit(kind) {
            let held =
                try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT COUNT(*) FROM objects WHERE kind = ? AND signer = ?"),
                    arguments: [Int(kind.rawValue), object.signer.data]) ?? 0
            guard held < limit else { return false }
        }
        try SoukDatabase.deleteObjects(replacing, db: db)
        try db.cachedStatement(
            sql: """
                INSERT INTO objects (id, kind, signer, timestamp, retain_until, gossip, envelope, received_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            object.id.bytes.data, Int(kind.rawValue), object.signer.data, Int64(clamping: object.timestamp),
            object.retainUntil.map { Int64(clamping: $0) }, kind.propagation == .gossip,
            object.envelope.bytes.data, Int64(now),
        ])
        var delta = ObjectTotals()
        delta.add(object.id)
        try delta.save(kind: Int(kind.rawValue), db: db)
        return true
    }

    /// Stores an object kept one per signer in `table` (columns `signer`, `object_id`, `version`):
    /// a higher version replaces the held one, a first one takes a quota slot.
    /// - Returns: `.inserted` or `.updated` when stored (the caller then writes its index row),
    ///   `.stale` or `.quotaExceeded` when not.
    func storeReplacingOwnVersion(_ version: UInt64, table: String) throws -> ApplyOutcome {
        let held = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT object_id, version FROM \(table) WHERE signer = ?"),
            arguments: [object.signer.data])
        guard let held else {
            return try store(replacing: [], countsAgainstQuota: true) ? .inserted : quotaExceeded
        }
        let heldVersion = UInt64(held["version"] as Int64)
        guard version > heldVersion else { return .stale(currentVersion: heldVersion) }
        _ = try store(replacing: [ObjectID(bytes: (held["object_id"] as Data).bytes)], countsAgainstQuota: false)
        return .updated(fromVersion: heldVersion)
    }

    /// The quota refusal for this object's kind.
    var quotaExceeded: ApplyOutcome { .quotaExceeded(limit: quotas.limit(object.kind) ?? 0) }
}

extension SoukDatabase {
    /// The appliers of the kinds this store indexes, by kind byte. A new kind adds one line.
    static let appliers: [UInt8: any ObjectApplier.Type] = {
        let all: [any ObjectApplier.Type] = [
            ListingApplier.self, RetractionApplier.self, ProfileApplier.self, ArbiterApplier.self,
            TradeStepApplier.self, ResolutionApplier.self, ChatApplier.self, LogEntryApplier.self,
            ForkProofApplier.self,
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.kind.rawValue, $0) })
    }()

    /// Stores a verified object in one transaction, by its kind's rules (see each applier).
    /// - Parameters:
    ///   - object: a `VerifiedObject` (nothing unverified reaches the store).
    ///   - now: Unix seconds, recorded as `received_at`.
    ///   - quotas: per-signer limits per kind.
    public func apply(_ object: VerifiedObject, now: UInt64, quotas: ObjectQuotas = .default) throws -> ApplyOutcome {
        try writer.write { db in try Self.applyOne(object, db: db, now: now, quotas: quotas) }
    }

    /// `apply` with the listing and tombstone quotas set to `maxActivePerSeller`.
    public func apply(_ object: VerifiedObject, now: UInt64, maxActivePerSeller: Int) throws -> ApplyOutcome {
        try apply(object, now: now, quotas: .listings(maxActivePerSeller))
    }

    /// Stores many verified objects in one transaction, with the same rules as `apply`, in order.
    /// Ingest from peers uses this: one commit (and one full-text flush) per batch, not per object.
    /// - Returns: one outcome per object.
    public func applyBatch(_ objects: [VerifiedObject], now: UInt64, quotas: ObjectQuotas = .default) throws
        -> [ApplyOutcome]
    {
        guard !objects.isEmpty else { return [] }
        return try writer.write { db in try objects.map { try Self.applyOne($0, db: db, now: now, quotas: quotas) } }
    }

    /// `applyBatch` with the listing and tombstone quotas set to `maxActivePerSeller`.
    public func applyBatch(_ objects: [VerifiedObject], now: UInt64, maxActivePerSeller: Int) throws -> [ApplyOutcome] {
        try applyBatch(objects, now: now, quotas: .listings(maxActivePerSeller))
    }

    static func applyOne(_ object: VerifiedObject, db: Database, now: UInt64, quotas: ObjectQuotas) throws
        -> ApplyOutcome
    {
        if try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM objects WHERE id = ?)"),
            arguments: [object.id.bytes.data]) == true
        {
            return .duplicate
        }
        let w = ObjectWriter(db: db, object: object, now: now, quotas: quotas)
        guard let applier = appliers[object.kind.rawValue] else {
            // A kind with no index of its own is kept as it is, one slot of its signer's quota.
            return try w.store(replacing: [], countsAgainstQuota: true) ? .inserted : w.quotaExceeded
        }
        return try applier.apply(w)
    }

    /// Deletes objects by id and takes them out of the totals.
    static func deleteObjects(_ ids: [ObjectID], db: Database) throws {
        for id in ids {
            guard
                let kind = try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT kind FROM objects WHERE id = ?"), arguments: [id.bytes.data])
            else { continue }
            try db.cachedStatement(sql: "DELETE FROM objects WHERE id = ?").execute(arguments: [id.bytes.data])
            var delta = ObjectTotals()
            delta.remove(id)
            try delta.save(kind: kind, db: db)
        }
    }

    // MARK: Reading objects

    /// True if an object with this id is held, of any kind.
    public func hasObject(_ id: ObjectID) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM objects WHERE id = ?)"),
                arguments: [id.bytes.data]) ?? false
        }
    }

    /// The envelopes held for these ids that may be served to any peer (gossiped kinds only;
    /// addressed objects go to their recipients alone). Unknown ids are skipped, and so are rows
    /// whose bytes no longer hash to their id (changed behind the node's back): never served.
    public func envelopes(_ ids: [ObjectID]) throws -> [(id: ObjectID, envelope: [UInt8])] {
        try writer.read { db in
            try ids.compactMap { id in
                try Data.fetchOne(
                    db.cachedStatement(sql: "SELECT envelope FROM objects WHERE id = ? AND gossip = 1"),
                    arguments: [id.bytes.data]
                ).flatMap { Blake2b.hash256($0.bytes) == id.bytes ? (id, $0.bytes) : nil }
            }
        }
    }

    /// The gossiped envelopes whose ids start with these prefixes (at most 32 bytes each).
    public func envelopes(prefixes: [[UInt8]]) throws -> [(id: ObjectID, envelope: [UInt8])] {
        try writer.read { db in
            var out: [(ObjectID, [UInt8])] = []
            for p in prefixes.map({ Array($0.prefix(32)) }) {
                let lo = (p + [UInt8](repeating: 0, count: 32 - p.count)).data
                let hi = (p + [UInt8](repeating: 0xff, count: 32 - p.count)).data
                for row in try Row.fetchAll(
                    db.cachedStatement(
                        sql: "SELECT id, envelope FROM objects WHERE id BETWEEN ? AND ? AND gossip = 1"),
                    arguments: [lo, hi])
                {
                    let id = (row["id"] as Data).bytes
                    let bytes = (row["envelope"] as Data).bytes
                    guard Blake2b.hash256(bytes) == id else { continue }  // changed behind our back
                    out.append((ObjectID(bytes: id), bytes))
                }
            }
            return out
        }
    }

    // MARK: The reconciled set

    /// Count and id sum of the held objects of these kinds (gossiped kinds only): one row per kind.
    public func reconTotals(kinds: [ObjectKind]) throws -> ObjectTotals {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM object_totals WHERE kind IN (\(Self.gossipKindList(kinds)))")
                .map(ObjectTotals.load).reduce(ObjectTotals(), +)
        }
    }

    /// The reconciled items of these kinds from `lower` (inclusive) to `upper` (exclusive, `nil` for
    /// infinity), in (timestamp, id) order. A bound's id prefix stands for itself padded with zeros.
    public func reconItems(
        kinds: [ObjectKind], from lower: (timestamp: UInt64, prefix: [UInt8]),
        to upper: (timestamp: UInt64, prefix: [UInt8])?
    ) throws -> [(timestamp: UInt64, id: ObjectID)] {
        // Stored timestamps fit Int64; a bound beyond that is above every item.
        guard lower.timestamp <= UInt64(Int64.max) else { return [] }
        func padded(_ p: [UInt8]) -> Data {
            (Array(p.prefix(32)) + [UInt8](repeating: 0, count: max(0, 32 - p.count))).data
        }
        var sql = """
            SELECT timestamp, id FROM objects INDEXED BY objects_recon
            WHERE gossip = 1 AND kind IN (\(Self.gossipKindList(kinds))) AND (timestamp, id) >= (?, ?)
            """
        var args: [(any DatabaseValueConvertible)?] = [Int64(lower.timestamp), padded(lower.prefix)]
        if let upper, upper.timestamp <= UInt64(Int64.max) {
            sql += " AND (timestamp, id) < (?, ?)"
            args += [Int64(upper.timestamp), padded(upper.prefix)]
        }
        sql += " ORDER BY timestamp, id"
        return try writer.read { db in
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(args)).map {
                (UInt64($0[0] as Int64), ObjectID(bytes: ($0[1] as Data).bytes))
            }
        }
    }

    /// The gossiped kinds among `kinds` as an SQL list of integers (`-1` when there are none).
    static func gossipKindList(_ kinds: [ObjectKind]) -> String {
        let bytes = kinds.filter { $0.propagation == .gossip }.map { String($0.rawValue) }
        return bytes.isEmpty ? "-1" : bytes.joined(separator: ",")
    }

    // MARK: Retention

    /// Deletes every object whose retention ended (`retain_until <= now`) and its index rows, in
    /// one transaction. The expired listings of `seller` (this node's own key) are first copied to
    /// `own_expired`, so their seller can still see and renew them.
    /// - Returns: how many objects of each kind were removed.
    @discardableResult
    public func pruneObjects(now: UInt64, keepingListingsOf seller: [UInt8]? = nil) throws -> [ObjectKind: Int] {
        try writer.write { db in
            if let seller {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO own_expired (listing_id, envelope, expired_at)
                        SELECT l.listing_id, o.envelope, l.expires_at FROM listings l JOIN objects o ON o.id = l.object_id
                        WHERE l.seller = ? AND o.retain_until <= ?
                        """,
                    arguments: [seller.data, Int64(clamping: now)])
            }
            let expired = try Row.fetchAll(
                db, sql: "SELECT id, kind FROM objects WHERE retain_until <= ?", arguments: [Int64(clamping: now)])
            guard !expired.isEmpty else { return [:] }
            for (kindByte, applier) in Self.appliers {
                guard let table = applier.indexTable else { continue }
                try db.execute(
                    sql: """
                        DELETE FROM \(table) WHERE object_id IN
                            (SELECT id FROM objects WHERE kind = ? AND retain_until <= ?)
                        """,
                    arguments: [Int(kindByte), Int64(clamping: now)])
            }
            var deltas: [Int: ObjectTotals] = [:]
            var removed: [ObjectKind: Int] = [:]
            for row in expired {
                let kind: Int = row["kind"]
                deltas[kind, default: ObjectTotals()].remove(ObjectID(bytes: (row["id"] as Data).bytes))
                if let k = ObjectKind(rawValue: UInt8(kind)) { removed[k, default: 0] += 1 }
            }
            try db.execute(sql: "DELETE FROM objects WHERE retain_until <= ?", arguments: [Int64(clamping: now)])
            for (kind, delta) in deltas { try delta.save(kind: kind, db: db) }
            return removed
        }
    }

    /// Objects held per kind, from the running totals (one small read whatever the store's size).
    public func objectCounts() throws -> [ObjectKind: Int] {
        try writer.read { db in try Self.objectCounts(db) }
    }

    static func objectCounts(_ db: Database) throws -> [ObjectKind: Int] {
        var out: [ObjectKind: Int] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT kind, count FROM object_totals")) {
            if let k = ObjectKind(rawValue: UInt8(clamping: row["kind"] as Int)) { out[k] = row["count"] }
        }
        return out
    }
}

extension ObjectQuotas {
    /// The default quotas with the listing and tombstone limits set to `n`.
    public static func listings(_ n: Int) -> ObjectQuotas {
        var q = ObjectQuotas.default
        q.perSigner[ObjectKind.listing.rawValue] = n
        q.perSigner[ObjectKind.listingRetraction.rawValue] = n
        return q
    }
}

extension SoukDatabase {
    /// The envelope held for an id, of any kind (addressed objects included: for this node's own
    /// sending, never for serving peers).
    public func envelope(_ id: ObjectID) throws -> [UInt8]? {
        try writer.read { db in
            try Data.fetchOne(
                db.cachedStatement(sql: "SELECT envelope FROM objects WHERE id = ?"), arguments: [id.bytes.data]
            )?.bytes
        }
    }
}
