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

    /// Sealed deliveries held, newest first.
    public func inbox(limit: Int = 100) throws -> [InboxItem] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM inbox ORDER BY received_at DESC, delivery_id LIMIT ?", arguments: [limit]
            )
            .map {
                InboxItem(
                    deliveryID: ($0["delivery_id"] as Data).bytes, bodyHash: ($0["body_hash"] as Data).bytes,
                    body: ($0["body"] as Data).bytes, expiresAt: UInt64($0["expires_at"] as Int64),
                    receivedAt: UInt64($0["received_at"] as Int64))
            }
        }
    }
}
