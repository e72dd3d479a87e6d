public import SoukCore
import GRDB
import Foundation

/// A remembered peer address.
public struct AddressRecord: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var nodeID: [UInt8]?
    public var source: String
    public var lastSeen: UInt64
    public var lastAttempt: UInt64
    public var lastSuccess: UInt64
    public var failures: Int

    public var hostPort: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A ban on a node id (`node:<hex>`) or an IP address (`ip:<address>`).
public struct BanRecord: Sendable, Equatable {
    public var target: String
    public var until: UInt64
    public var reason: String
    public var createdAt: UInt64

    public init(target: String, until: UInt64, reason: String, createdAt: UInt64) {
        self.target = target
        self.until = until
        self.reason = reason
        self.createdAt = createdAt
    }
}

extension SoukDatabase {
    /// Every current object as (timestamp, id): unexpired listings by `updated_at`, tombstones by
    /// `retracted_at`. This is the set peers reconcile.
    public func reconItems(now: UInt64) throws -> [(timestamp: UInt64, id: ObjectID)] {
        try writer.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT updated_at AS ts, object_id FROM listings WHERE expires_at > ?
                    UNION ALL SELECT retracted_at AS ts, object_id FROM retractions
                    """,
                arguments: [Int64(now)])
            return rows.map { (UInt64($0["ts"] as Int64), ObjectID(bytes: ($0["object_id"] as Data).bytes)) }
        }
    }

    /// True if an object with this id is held (as a current listing version or a tombstone).
    public func hasObject(_ id: ObjectID) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS(SELECT 1 FROM listings WHERE object_id = ?)
                        OR EXISTS(SELECT 1 FROM retractions WHERE object_id = ?)
                    """,
                arguments: [id.bytes.data, id.bytes.data]) ?? false
        }
    }

    /// The envelopes held for these ids (unknown ids are skipped).
    public func envelopes(_ ids: [ObjectID]) throws -> [(id: ObjectID, envelope: [UInt8])] {
        try writer.read { db in
            var out: [(ObjectID, [UInt8])] = []
            for id in ids {
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT envelope FROM listings WHERE object_id = ?
                        UNION ALL SELECT envelope FROM retractions WHERE object_id = ? LIMIT 1
                        """,
                    arguments: [id.bytes.data, id.bytes.data])
                if let row { out.append((id, (row["envelope"] as Data).bytes)) }
            }
            return out
        }
    }

    /// The envelopes whose ids start with these 16-byte prefixes.
    public func envelopes(prefixes: [[UInt8]]) throws -> [(id: ObjectID, envelope: [UInt8])] {
        try writer.read { db in
            var out: [(ObjectID, [UInt8])] = []
            for p in prefixes {
                let lo = (p + [UInt8](repeating: 0, count: 32 - p.count)).data
                let hi = (p + [UInt8](repeating: 0xff, count: 32 - p.count)).data
                for row in try Row.fetchAll(
                    db,
                    sql: """
                        SELECT object_id, envelope FROM listings WHERE object_id BETWEEN ? AND ?
                        UNION ALL SELECT object_id, envelope FROM retractions WHERE object_id BETWEEN ? AND ?
                        """,
                    arguments: [lo, hi, lo, hi])
                {
                    out.append((ObjectID(bytes: (row["object_id"] as Data).bytes), (row["envelope"] as Data).bytes))
                }
            }
            return out
        }
    }

    // MARK: Address book

    /// Adds an address or refreshes what is known about it.
    public func rememberAddress(host: String, port: Int, nodeID: [UInt8]?, source: String, seen: UInt64) throws {
        let key = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        try writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO addresses (host_port, host, port, node_id, source, last_seen)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(host_port) DO UPDATE SET
                        node_id = COALESCE(excluded.node_id, addresses.node_id),
                        last_seen = MAX(addresses.last_seen, excluded.last_seen)
                    """,
                arguments: [key, host, port, nodeID?.data, source, Int64(seen)])
        }
    }

    /// Records a dial attempt's outcome (for backoff and selection).
    public func recordAttempt(hostPort: String, success: Bool, nodeID: [UInt8]?, now: UInt64) throws {
        try writer.write { db in
            if success {
                try db.execute(
                    sql: """
                        UPDATE addresses SET last_attempt = ?, last_success = ?, last_seen = ?, failures = 0,
                            node_id = COALESCE(?, node_id) WHERE host_port = ?
                        """,
                    arguments: [Int64(now), Int64(now), Int64(now), nodeID?.data, hostPort])
            } else {
                try db.execute(
                    sql: "UPDATE addresses SET last_attempt = ?, failures = failures + 1 WHERE host_port = ?",
                    arguments: [Int64(now), hostPort])
            }
        }
    }

    /// Known addresses, most recently seen first.
    public func addresses(limit: Int = 1_000) throws -> [AddressRecord] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM addresses ORDER BY last_seen DESC, host_port LIMIT ?", arguments: [limit]
            ).map { row in
                AddressRecord(
                    host: row["host"], port: row["port"], nodeID: (row["node_id"] as Data?)?.bytes,
                    source: row["source"], lastSeen: UInt64(row["last_seen"] as Int64),
                    lastAttempt: UInt64(row["last_attempt"] as Int64), lastSuccess: UInt64(row["last_success"] as Int64),
                    failures: row["failures"])
            }
        }
    }

    // MARK: Bans

    public func ban(_ target: String, until: UInt64, reason: String, now: UInt64) throws {
        try writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO bans (target, until, reason, created_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(target) DO UPDATE SET until = MAX(bans.until, excluded.until), reason = excluded.reason
                    """,
                arguments: [target, Int64(until), reason, Int64(now)])
        }
    }

    /// Lifts a ban; returns whether one existed.
    @discardableResult
    public func unban(_ target: String) throws -> Bool {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM bans WHERE target = ?", arguments: [target])
            return db.changesCount > 0
        }
    }

    /// Bans still in force.
    public func bans(now: UInt64) throws -> [BanRecord] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM bans WHERE until > ? ORDER BY target", arguments: [Int64(now)])
                .map {
                    BanRecord(
                        target: $0["target"], until: UInt64($0["until"] as Int64), reason: $0["reason"],
                        createdAt: UInt64($0["created_at"] as Int64))
                }
        }
    }
}
