import Foundation
import GRDB
import SoukCore

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

    public var hostPort: String { HostPort(host: host, port: port).description }
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
    // MARK: Address book

    /// Adds an address or refreshes what is known about it.
    public func rememberAddress(host: String, port: Int, nodeID: [UInt8]?, source: String, seen: UInt64) throws {
        let key = HostPort(host: host, port: port).description
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
                    lastAttempt: UInt64(row["last_attempt"] as Int64),
                    lastSuccess: UInt64(row["last_success"] as Int64),
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
