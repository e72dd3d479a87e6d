import Foundation
import GRDB

/// A sealed body delivered to this node (`Specs/wire.md` §15), kept until the node's user reads it.
public struct InboxItem: Sendable, Equatable {
    public let deliveryID: [UInt8]
    public let bodyHash: [UInt8]
    public let body: [UInt8]
    public let expiresAt: UInt64
    public let receivedAt: UInt64
}

extension SoukDatabase {
    /// Sealed deliveries held at most; past it new ones are refused (and not acknowledged).
    public static let maxInboxItems = 10_000

    /// Stores a sealed delivery addressed to this node, in one transaction, before it is acknowledged.
    /// - Returns: `.stored` (new), `.duplicate` (the same body already held: acknowledge again),
    ///   `.conflict` (another body already held under this delivery id: never acknowledge it), `.full`.
    public func storeInbox(deliveryID: [UInt8], bodyHash: [UInt8], body: [UInt8], expiresAt: UInt64, now: UInt64)
        throws -> InboxOutcome
    {
        try writer.write { db in
            if let held = try Data.fetchOne(
                db, sql: "SELECT body_hash FROM inbox WHERE delivery_id = ?", arguments: [deliveryID.data])
            {
                return held.bytes == bodyHash ? .duplicate : .conflict
            }
            let held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox") ?? 0
            guard held < Self.maxInboxItems else { return .full }
            try db.execute(
                sql: """
                    INSERT INTO inbox (delivery_id, body_hash, body, expires_at, received_at) VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [deliveryID.data, bodyHash.data, body.data, Int64(clamping: expiresAt), Int64(now)])
            return .stored
        }
    }

    public enum InboxOutcome: Sendable, Equatable { case stored, duplicate, conflict, full }

    /// Sealed deliveries not opened yet, oldest first.
    public func unprocessedInbox(limit: Int = 200) throws -> [InboxItem] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM inbox WHERE processed = 0 ORDER BY received_at, delivery_id LIMIT ?",
                arguments: [limit]
            ).map(Self.inboxItem)
        }
    }

    /// Opened deliveries whose objects wait for a parent, least recently tried first (so a heap
    /// of bundles that never apply cannot starve the others).
    public func waitingInbox(limit: Int = 50) throws -> [InboxItem] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM inbox WHERE processed = 2 ORDER BY tried_at, delivery_id LIMIT ?",
                arguments: [limit]
            ).map(Self.inboxItem)
        }
    }

    /// Marks an opened delivery as waiting for a parent, tried at `now`.
    public func markInboxWaiting(_ deliveryID: [UInt8], now: UInt64) throws {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE inbox SET processed = 2, tried_at = ? WHERE delivery_id = ?",
                arguments: [Int64(now), deliveryID.data])
        }
    }

    /// Marks a delivery opened and applied (its objects stored, or refused for good).
    public func markInboxProcessed(_ deliveryID: [UInt8]) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE inbox SET processed = 1 WHERE delivery_id = ?", arguments: [deliveryID.data])
        }
    }

    /// Removes a delivery whose content now lives in the store (a trade bundle, applied): a resend
    /// of it is stored and acknowledged again, and applying it again changes nothing.
    public func removeInbox(_ deliveryID: [UInt8]) throws {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM inbox WHERE delivery_id = ?", arguments: [deliveryID.data])
        }
    }

    /// How long an opened bundle may wait for its parents before it is forgotten (a resync
    /// brings what is missing far sooner).
    public static let inboxWaitingLifetime: UInt64 = 24 * 3600

    /// Forgets deliveries past their expiry, and bundles that waited for a parent for a day.
    @discardableResult
    public func pruneInbox(now: UInt64) throws -> Int {
        try writer.write { db in
            try db.execute(
                sql: "DELETE FROM inbox WHERE expires_at <= ? OR (processed = 2 AND received_at <= ?)",
                arguments: [Int64(clamping: now), Int64(clamping: now) - Int64(Self.inboxWaitingLifetime)])
            return db.changesCount
        }
    }

    static func inboxItem(_ row: Row) -> InboxItem {
        InboxItem(
            deliveryID: (row["delivery_id"] as Data).bytes, bodyHash: (row["body_hash"] as Data).bytes,
            body: (row["body"] as Data).bytes, expiresAt: UInt64(row["expires_at"] as Int64),
            receivedAt: UInt64(row["received_at"] as Int64))
    }

    /// Sealed deliveries held, newest first.
    public func inbox(limit: Int = 100) throws -> [InboxItem] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM inbox ORDER BY received_at DESC, delivery_id LIMIT ?", arguments: [limit]
            )
            .map(Self.inboxItem)
        }
    }
}
