import Foundation
import GRDB
public import SoukCore
import SoukCrypto

/// One addressed object on its way to one recipient.
public struct OutboxItem: Sendable, Equatable {
    public let objectID: ObjectID
    public let recipient: NodeID
    /// Fixed per (object, recipient): retries reuse it, so a recipient or a mailbox recognises a
    /// resend and acknowledges it again.
    public let deliveryID: [UInt8]
    public let attempts: Int
    public let nextAttemptAt: UInt64
    public let ackedAt: UInt64?
    public let createdAt: UInt64
    /// The sealed body sent on the first attempt, once there was one.
    public let body: [UInt8]?
}

/// A delivery held for a recipient by this node's mailbox service.
public struct MailboxItem: Sendable, Equatable {
    public let deliveryID: [UInt8]
    public let recipient: NodeID
    public let message: [UInt8]
    public let expiresAt: UInt64
    public let ack: [UInt8]?
}

extension SoukDatabase {
    /// Retry delays after each attempt: 10 s, 1 min, 5 min, 30 min, 2 h, then every 6 h.
    public static let outboxBackoff: [UInt64] = [10, 60, 300, 1_800, 7_200, 21_600]

    /// Queues an object for each recipient (once per pair; queuing again changes nothing).
    public func enqueue(_ objectID: ObjectID, to recipients: [NodeID], now: UInt64) throws {
        try writer.write { db in
            for r in recipients {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO outbox (object_id, recipient, delivery_id, attempts, next_attempt_at, created_at)
                        VALUES (?, ?, ?, 0, ?, ?)
                        """,
                    arguments: [
                        objectID.bytes.data, r.publicKey.data, Self.randomDeliveryID().data, Int64(now), Int64(now),
                    ])
            }
        }
    }

    /// 16 random bytes (the system CSPRNG): deliveries of one object to several recipients are not linkable by id.
    static func randomDeliveryID() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    /// Keeps the sealed body of an item's first attempt (later attempts resend these bytes).
    public func setOutboxBody(deliveryID: [UInt8], body: [UInt8]) throws {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE outbox SET body = ? WHERE delivery_id = ? AND body IS NULL",
                arguments: [body.data, deliveryID.data])
        }
    }

    /// How long an item is tried (a delivery's lifetime): after it, it stays unacknowledged and
    /// is not sent again (a resync queues it anew).
    public static let outboxLifetime: UInt64 = 30 * 24 * 3600

    /// Items due for an attempt at `now` (not acknowledged, not past their lifetime), oldest first.
    public func dueOutbox(now: UInt64, limit: Int = 200) throws -> [OutboxItem] {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM outbox WHERE acked_at IS NULL AND next_attempt_at <= ? AND created_at > ?
                    ORDER BY next_attempt_at, created_at LIMIT ?
                    """, arguments: [Int64(now), Int64(now) - Int64(Self.outboxLifetime), limit]
            ).map(Self.outboxItem)
        }
    }

    /// Every outbox item of these objects (for delivery status).
    public func outbox(objects: [ObjectID]) throws -> [OutboxItem] {
        try writer.read { db in
            var out: [OutboxItem] = []
            for id in objects {
                out += try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT * FROM outbox WHERE object_id = ?"), arguments: [id.bytes.data]
                ).map(Self.outboxItem)
            }
            return out
        }
    }

    /// Unacknowledged items for one recipient (resent at once when it connects).
    public func pendingOutbox(to recipient: NodeID) throws -> [OutboxItem] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM outbox WHERE acked_at IS NULL AND recipient = ? ORDER BY created_at",
                arguments: [recipient.publicKey.data]
            ).map(Self.outboxItem)
        }
    }

    /// Records an attempt and schedules the next by the backoff.
    public func recordAttempt(_ item: OutboxItem, now: UInt64) throws {
        let delay = Self.outboxBackoff[min(item.attempts, Self.outboxBackoff.count - 1)]
        try writer.write { db in
            try db.execute(
                sql: "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE delivery_id = ?",
                arguments: [Int64(now + delay), item.deliveryID.data])
        }
    }

    /// Marks the item acknowledged by its recipient: only that recipient's acknowledgement of the
    /// exact body sent counts (BLAKE2b-256 of the sealed body, as the ack signs it).
    /// - Returns: whether it was pending and is now acknowledged.
    @discardableResult
    public func acknowledge(deliveryID: [UInt8], by recipient: NodeID, bodyHash: [UInt8], now: UInt64) throws -> Bool {
        try writer.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT body FROM outbox WHERE delivery_id = ? AND recipient = ? AND acked_at IS NULL",
                    arguments: [deliveryID.data, recipient.publicKey.data]),
                let body = row["body"] as Data?, Blake2b.hash256(body.bytes) == bodyHash
            else { return false }
            try db.execute(
                sql: "UPDATE outbox SET acked_at = ? WHERE delivery_id = ?", arguments: [Int64(now), deliveryID.data])
            return true
        }
    }

    /// Whether a delivery id is one of this node's outbox items (acknowledged or not).
    public func isOutboxDelivery(_ deliveryID: [UInt8]) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM outbox WHERE delivery_id = ?)", arguments: [deliveryID.data])
                ?? false
        }
    }

    /// Sends an object to a recipient again, as a new delivery (new id, new sealing), whether or not
    /// an earlier one was acknowledged: the recipient asked for it (its digest lacked it).
    public func requeue(_ objectID: ObjectID, to recipient: NodeID, now: UInt64) throws {
        try writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO outbox (object_id, recipient, delivery_id, attempts, next_attempt_at, created_at)
                    VALUES (?, ?, ?, 0, ?, ?)
                    ON CONFLICT(object_id, recipient) DO UPDATE SET delivery_id = excluded.delivery_id, body = NULL,
                        attempts = 0, next_attempt_at = excluded.next_attempt_at, acked_at = NULL,
                        created_at = excluded.created_at
                    """,
                arguments: [
                    objectID.bytes.data, recipient.publicKey.data, Self.randomDeliveryID().data, Int64(now), Int64(now),
                ])
        }
    }

    /// Makes every unacknowledged item to `recipient` due now (it just connected).
    public func hurryOutbox(to recipient: NodeID, now: UInt64) throws {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE outbox SET next_attempt_at = ? WHERE recipient = ? AND acked_at IS NULL",
                arguments: [Int64(now), recipient.publicKey.data])
        }
    }

    static func outboxItem(_ row: Row) -> OutboxItem {
        OutboxItem(
            objectID: ObjectID(bytes: (row["object_id"] as Data).bytes),
            recipient: NodeID(publicKey: (row["recipient"] as Data).bytes)!,
            deliveryID: (row["delivery_id"] as Data).bytes, attempts: row["attempts"],
            nextAttemptAt: UInt64(row["next_attempt_at"] as Int64),
            ackedAt: (row["acked_at"] as Int64?).map(UInt64.init), createdAt: UInt64(row["created_at"] as Int64),
            body: (row["body"] as Data?)?.bytes)
    }

    // MARK: Mailbox service

    /// Limits of the mailbox service: per recipient and per delivering peer, in items and bytes.
    public struct MailboxLimits: Sendable, Equatable {
        public var perRecipientItems = 1_000
        public var perRecipientBytes = 16 * 1024 * 1024
        public var perPeerItems = 2_000
        public var perPeerBytes = 32 * 1024 * 1024
        public var totalBytes = 512 * 1024 * 1024
        public init() {}
    }

    public enum MailboxOutcome: Sendable, Equatable {
        case stored, duplicate
        case overQuota(String)
    }

    /// Holds a delivery for a recipient that is not connected.
    public func holdMail(
        deliveryID: [UInt8], recipient: NodeID, fromPeer: NodeID, message: [UInt8], expiresAt: UInt64, now: UInt64,
        limits: MailboxLimits = MailboxLimits()
    ) throws -> MailboxOutcome {
        try writer.write { db in
            if try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM mailbox WHERE delivery_id = ?)", arguments: [deliveryID.data])
                == true
            {
                return .duplicate
            }
            let r = try Row.fetchOne(
                db,
                sql:
                    "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM mailbox WHERE recipient = ? AND ack IS NULL",
                arguments: [recipient.publicKey.data])!
            guard (r["n"] as Int) < limits.perRecipientItems,
                (r["b"] as Int) + message.count <= limits.perRecipientBytes
            else { return .overQuota("the recipient's mailbox is full") }
            let p = try Row.fetchOne(
                db,
                sql:
                    "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM mailbox WHERE from_peer = ? AND ack IS NULL",
                arguments: [fromPeer.publicKey.data])!
            guard (p["n"] as Int) < limits.perPeerItems, (p["b"] as Int) + message.count <= limits.perPeerBytes else {
                return .overQuota("this peer's share of the mailbox is full")
            }
            let total = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(size), 0) FROM mailbox") ?? 0
            guard total + message.count <= limits.totalBytes else { return .overQuota("the mailbox is full") }
            try db.execute(
                sql: """
                    INSERT INTO mailbox (delivery_id, recipient, from_peer, message, size, expires_at, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    deliveryID.data, recipient.publicKey.data, fromPeer.publicKey.data, message.data, message.count,
                    Int64(clamping: expiresAt), Int64(now),
                ])
            return .stored
        }
    }

    /// Mail held for a recipient and not yet acknowledged, oldest first.
    public func heldMail(for recipient: NodeID, now: UInt64, limit: Int = 500) throws -> [MailboxItem] {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM mailbox WHERE recipient = ? AND ack IS NULL AND expires_at > ?
                    ORDER BY received_at LIMIT ?
                    """, arguments: [recipient.publicKey.data, Int64(now), limit]
            ).map(Self.mailboxItem)
        }
    }

    /// The held delivery with this id, if any.
    public func mail(_ deliveryID: [UInt8]) throws -> MailboxItem? {
        try writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM mailbox WHERE delivery_id = ?", arguments: [deliveryID.data])
                .map(Self.mailboxItem)
        }
    }

    /// Keeps the recipient's acknowledgement of held mail (the sender gets it when it retries) and
    /// drops the body.
    public func recordMailAck(deliveryID: [UInt8], ack: [UInt8]) throws {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE mailbox SET ack = ?, message = x'', size = 0 WHERE delivery_id = ?",
                arguments: [ack.data, deliveryID.data])
        }
    }

    /// Forgets expired mail (30-day TTL at most).
    @discardableResult
    public func pruneMailbox(now: UInt64) throws -> Int {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM mailbox WHERE expires_at <= ?", arguments: [Int64(now)])
            return db.changesCount
        }
    }

    public func mailboxCounts() throws -> (items: Int, bytes: Int) {
        try writer.read { db in
            let r = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM mailbox")!
            return (r["n"], r["b"])
        }
    }

    static func mailboxItem(_ row: Row) -> MailboxItem {
        MailboxItem(
            deliveryID: (row["delivery_id"] as Data).bytes,
            recipient: NodeID(publicKey: (row["recipient"] as Data).bytes)!, message: (row["message"] as Data).bytes,
            expiresAt: UInt64(row["expires_at"] as Int64), ack: (row["ack"] as Data?)?.bytes)
    }
}
