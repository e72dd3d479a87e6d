import Foundation
import GRDB
public import SoukCore

/// Chat messages (kind 7): indexed by conversation; a blocked sender's messages are not stored.
enum ChatApplier: ObjectApplier {
    static var kind: ObjectKind { .chatMessage }
    static var indexTable: String? { "chat" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let m = w.object.payload(as: ChatMessage.self) else { return .rejected(wrongKind(w.object)) }
        if try Bool.fetchOne(
            w.db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM blocked WHERE node_id = ?)"),
            arguments: [w.object.signer.data]) == true
        {
            return .rejected(ValidationError(.invalidMessage, "the sender is blocked here"))
        }
        guard try w.store(replacing: [], countsAgainstQuota: true) else { return w.quotaExceeded }
        try w.db.cachedStatement(
            sql: "INSERT INTO chat (object_id, conversation, sender, created_at) VALUES (?, ?, ?, ?)"
        ).execute(arguments: [w.object.id.bytes.data, m.conversation.data, w.object.signer.data, Int64(m.createdAt)])
        return .inserted
    }
}

/// A chat message as the store holds it.
public struct StoredMessage: Sendable, Equatable {
    public let id: ObjectID
    public let sender: NodeID
    public let message: ChatMessage
    public let envelope: [UInt8]

    public init(id: ObjectID, sender: NodeID, message: ChatMessage, envelope: [UInt8]) {
        self.id = id
        self.sender = sender
        self.message = message
        self.envelope = envelope
    }
}

extension SoukDatabase {
    /// The latest `limit` messages of a conversation in order (`created_at`, then id), oldest first.
    public func messages(conversation: [UInt8], limit: Int = 200) throws -> [StoredMessage] {
        try writer.read { db in
            try Data.fetchAll(
                db,
                sql: """
                    SELECT o.envelope FROM chat c JOIN objects o ON o.id = c.object_id
                    WHERE c.conversation = ? ORDER BY c.created_at DESC, c.object_id DESC LIMIT ?
                    """, arguments: [conversation.data, limit]
            ).reversed().map { try Self.decodeMessage($0.bytes) }
        }
    }

    /// Conversations with their latest message time and count, most recent first.
    public func conversations(limit: Int = 100) throws -> [(conversation: [UInt8], last: UInt64, count: Int)] {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT conversation, MAX(created_at) AS last, COUNT(*) AS n FROM chat
                    GROUP BY conversation ORDER BY last DESC LIMIT ?
                    """, arguments: [limit]
            ).map { (($0["conversation"] as Data).bytes, UInt64($0["last"] as Int64), $0["n"]) }
        }
    }

    static func decodeMessage(_ bytes: [UInt8]) throws -> StoredMessage {
        do {
            let e = try Envelope(decoding: bytes)
            return StoredMessage(
                id: e.id, sender: NodeID(publicKey: e.signer)!, message: try ChatMessage(decoding: e.payload),
                envelope: bytes)
        } catch {
            throw StoreCorruption(detail: "stored message does not decode: \(error)")
        }
    }

    /// Blocks a sender: its messages are refused from now on (held ones stay until removed).
    public func block(_ node: NodeID, now: UInt64, blocked: Bool = true) throws {
        try writer.write { db in
            if blocked {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO blocked (node_id, blocked_at) VALUES (?, ?)",
                    arguments: [node.publicKey.data, Int64(now)])
            } else {
                try db.execute(sql: "DELETE FROM blocked WHERE node_id = ?", arguments: [node.publicKey.data])
            }
        }
    }

    public func isBlocked(_ node: NodeID) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM blocked WHERE node_id = ?)", arguments: [node.publicKey.data])
                ?? false
        }
    }
}
