import Foundation
import GRDB
public import SoukCore
import SoukCrypto

/// Reputation log entries (kind 8): one chain per author. Entry `seq` waits for entry `seq - 1`
/// (`deferred`) and must name it; a second entry at a held seq is a fork (refused here without
/// blame; the node publishes the fork proof). Entries of a forked author past the fork are
/// refused. Per author: at most `maxLogEntriesPerDay` entries dated in one day. An entry whose
/// payload breaks a rule is stored as a link with its payload void.
enum LogEntryApplier: ObjectApplier {
    static var kind: ObjectKind { .logEntry }
    static var indexTable: String? { "log_entries" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let entry = w.object.payload(as: LogEntry.self), let author = NodeID(publicKey: w.object.signer) else {
            return .rejected(wrongKind(w.object))
        }
        let a = w.object.signer.data
        if let forkSeq = try Int64.fetchOne(
            w.db.cachedStatement(sql: "SELECT seq FROM log_forks WHERE author = ?"), arguments: [a]),
            Int64(entry.seq) >= forkSeq
        {
            return .rejected(ValidationError(.forkedLog, "\(author)'s log forked at entry \(forkSeq): it is frozen"))
        }
        if let held = try Data.fetchOne(
            w.db.cachedStatement(sql: "SELECT object_id FROM log_entries WHERE author = ? AND seq = ?"),
            arguments: [a, Int64(entry.seq)])
        {
            // Another entry at a held seq (the exact same one is a duplicate before this runs).
            try w.db.execute(
                sql:
                    "INSERT OR IGNORE INTO log_conflicts (object_id, author, seq, envelope, held) VALUES (?, ?, ?, ?, ?)",
                arguments: [w.object.id.bytes.data, a, Int64(entry.seq), w.object.envelope.bytes.data, held])
            return .rejected(
                ValidationError(.forkedLog, "\(author) signed two entries at seq \(entry.seq): a fork"))
        }
        if entry.seq > 1 {
            guard
                let prev = try Data.fetchOne(
                    w.db.cachedStatement(sql: "SELECT object_id FROM log_entries WHERE author = ? AND seq = ?"),
                    arguments: [a, Int64(entry.seq - 1)])
            else { return .deferred(.logEntry(author: w.object.signer, seq: entry.seq - 1)) }
            guard prev.bytes == entry.prev.bytes else {
                return .rejected(
                    ValidationError(
                        .forkedLog,
                        "entry \(entry.seq) of \(author) follows another entry \(entry.seq - 1) than the held one"))
            }
        }
        let day =
            try Int.fetchOne(
                w.db.cachedStatement(sql: "SELECT COUNT(*) FROM log_entries WHERE author = ? AND created_at > ?"),
                arguments: [a, Int64(entry.createdAt) - 86_400]) ?? 0
        guard day < SoukDatabase.maxLogEntriesPerDay else {
            return .quotaExceeded(limit: SoukDatabase.maxLogEntriesPerDay)
        }
        guard try w.store(replacing: [], countsAgainstQuota: true) else { return w.quotaExceeded }
        var void = entry.payloadError(author: author)
        let id = w.object.id.bytes.data
        switch entry.body {
        case .review(let r) where void == nil:
            let trade = entry.reviewedTrade!
            if try Bool.fetchOne(
                w.db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM reviews WHERE author = ? AND trade_id = ?)"),
                arguments: [a, trade.bytes.data]) == true
            {
                void = "a second review of one trade by one reviewer"
            } else {
                let settled = try r.proof.verify()
                try w.db.execute(
                    sql: """
                        INSERT INTO reviews (entry_id, author, subject, trade_id, rating, created_at, disputed, outcome)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        id, a, r.subject.publicKey.data, trade.bytes.data, Int(r.rating), Int64(entry.createdAt),
                        settled.resolution.arbiterFee > 0 || settled.roles.contains(.arbiter),
                        settled.resolution.outcome.description,
                    ])
            }
        case .reply(let target, _) where void == nil:
            // A reply waits for the review it answers (gossip may bring it first).
            guard
                try Bool.fetchOne(
                    w.db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM objects WHERE id = ?)"),
                    arguments: [target.bytes.data]) == true
            else {
                try SoukDatabase.deleteObjects([w.object.id], db: w.db)
                return .deferred(.object(target))
            }
            let subject = try Data.fetchOne(
                w.db.cachedStatement(sql: "SELECT subject FROM reviews WHERE entry_id = ?"),
                arguments: [target.bytes.data])
            if subject?.bytes != w.object.signer {
                void = "a reply is by the reviewed party, to a review held here"
            } else if try Bool.fetchOne(
                w.db.cachedStatement(
                    sql: "SELECT EXISTS(SELECT 1 FROM reviews WHERE entry_id = ? AND reply_id IS NOT NULL)"),
                arguments: [target.bytes.data]) == true
            {
                void = "one reply per review"
            } else {
                try w.db.execute(
                    sql: "UPDATE reviews SET reply_id = ? WHERE entry_id = ?", arguments: [id, target.bytes.data])
            }
        case .vouch(let subject, _) where void == nil:
            try w.db.execute(
                sql: "INSERT OR REPLACE INTO vouches (author, subject, entry_id, created_at) VALUES (?, ?, ?, ?)",
                arguments: [a, subject.publicKey.data, id, Int64(entry.createdAt)])
        case .revoke(let subject) where void == nil:
            try w.db.execute(
                sql: "DELETE FROM vouches WHERE author = ? AND subject = ?", arguments: [a, subject.publicKey.data])
        default:
            break
        }
        try w.db.cachedStatement(
            sql: """
                INSERT INTO log_entries (object_id, author, seq, prev, type, created_at, void_reason)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            id, a, Int64(entry.seq), entry.prev.bytes.data, Int(entry.body.type.rawValue), Int64(entry.createdAt),
            void,
        ])
        return .inserted
    }
}

/// Fork proofs (kind 9): one stored per author; from then on the author's log is frozen.
enum ForkProofApplier: ObjectApplier {
    static var kind: ObjectKind { .forkProof }
    static var indexTable: String? { "log_forks" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let proof = w.object.payload(as: ForkProof.self) else { return .rejected(wrongKind(w.object)) }
        let fork: (author: NodeID, seq: UInt64, ids: [ObjectID])
        do { fork = try proof.check() } catch { return .rejected(error) }
        if try Bool.fetchOne(
            w.db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM log_forks WHERE author = ?)"),
            arguments: [fork.author.publicKey.data]) == true
        {
            return .stale(currentVersion: 1)
        }
        guard try w.store(replacing: [], countsAgainstQuota: false) else { return w.quotaExceeded }
        try w.db.execute(
            sql: "INSERT INTO log_forks (author, seq, object_id, found_at) VALUES (?, ?, ?, ?)",
            arguments: [fork.author.publicKey.data, Int64(fork.seq), w.object.id.bytes.data, Int64(w.now)])
        return .inserted
    }
}

/// A review as the store holds it (valid: its proof checked, one per reviewer and trade).
public struct StoredReview: Sendable, Equatable {
    public let entryID: ObjectID
    public let author: NodeID
    public let subject: NodeID
    public let tradeID: ObjectID
    public let rating: Int
    public let createdAt: UInt64
    /// The arbiter worked on the trade (a fee or its signature): the review says so.
    public let disputed: Bool
    public let outcome: String
    public let replyID: ObjectID?
}

/// One link of a log, for `log.get` and `log verify`.
public struct StoredLogEntry: Sendable, Equatable {
    public let objectID: ObjectID
    public let seq: UInt64
    public let type: LogEntry.EntryType
    public let createdAt: UInt64
    public let voidReason: String?
    public let envelope: [UInt8]
}

/// What `log verify` found wrong with one author's chain: the first broken entry and why.
public struct BrokenLink: Sendable, Equatable {
    public let author: NodeID
    public let seq: UInt64
    public let objectID: ObjectID
    public let reason: String
}

extension SoukDatabase {
    /// Entries one author may add per day (by their signed time).
    public static let maxLogEntriesPerDay = 200

    static func migrateReputation(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE log_entries (
                    object_id BLOB PRIMARY KEY,
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    prev BLOB NOT NULL,
                    type INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    void_reason TEXT,
                    UNIQUE (author, seq)
                ) WITHOUT ROWID;
                CREATE TABLE log_conflicts (
                    object_id BLOB PRIMARY KEY,
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    envelope BLOB NOT NULL,
                    held BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE log_forks (
                    author BLOB PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    object_id BLOB NOT NULL,
                    found_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE reviews (
                    entry_id BLOB PRIMARY KEY,
                    author BLOB NOT NULL,
                    subject BLOB NOT NULL,
                    trade_id BLOB NOT NULL,
                    rating INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    disputed INTEGER NOT NULL,
                    outcome TEXT NOT NULL,
                    reply_id BLOB,
                    UNIQUE (author, trade_id)
                ) WITHOUT ROWID;
                CREATE INDEX reviews_subject ON reviews(subject, created_at);
                CREATE TABLE vouches (
                    author BLOB NOT NULL,
                    subject BLOB NOT NULL,
                    entry_id BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (author, subject)
                ) WITHOUT ROWID;
                """)
    }

    /// The latest entry of an author's log this node holds: (seq, object id), or `nil`.
    public func logHead(_ author: NodeID) throws -> (seq: UInt64, id: ObjectID)? {
        try writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT seq, object_id FROM log_entries WHERE author = ? ORDER BY seq DESC LIMIT 1",
                arguments: [author.publicKey.data]
            ).map { (UInt64($0["seq"] as Int64), ObjectID(bytes: ($0["object_id"] as Data).bytes)) }
        }
    }

    /// An author's log, from `fromSeq`, at most `limit` entries.
    public func log(_ author: NodeID, fromSeq: UInt64 = 1, limit: Int = 200) throws -> [StoredLogEntry] {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT l.object_id, l.seq, l.type, l.created_at, l.void_reason, o.envelope FROM log_entries l
                    JOIN objects o ON o.id = l.object_id WHERE l.author = ? AND l.seq >= ? ORDER BY l.seq LIMIT ?
                    """, arguments: [author.publicKey.data, Int64(fromSeq), limit]
            ).map {
                StoredLogEntry(
                    objectID: ObjectID(bytes: ($0["object_id"] as Data).bytes), seq: UInt64($0["seq"] as Int64),
                    type: LogEntry.EntryType(rawValue: UInt8($0["type"] as Int))!,
                    createdAt: UInt64($0["created_at"] as Int64), voidReason: $0["void_reason"],
                    envelope: ($0["envelope"] as Data).bytes)
            }
        }
    }

    /// Valid reviews about `subject` (or by `author`), newest first.
    public func reviews(subject: NodeID? = nil, author: NodeID? = nil, limit: Int = 500) throws -> [StoredReview] {
        try writer.read { db in
            var clauses: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if let subject {
                clauses.append("subject = ?")
                args.append(subject.publicKey.data)
            }
            if let author {
                clauses.append("author = ?")
                args.append(author.publicKey.data)
            }
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            args.append(limit)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM reviews \(filter) ORDER BY created_at DESC, entry_id LIMIT ?",
                arguments: StatementArguments(args)
            ).map(Self.review)
        }
    }

    static func review(_ r: Row) -> StoredReview {
        StoredReview(
            entryID: ObjectID(bytes: (r["entry_id"] as Data).bytes),
            author: NodeID(publicKey: (r["author"] as Data).bytes)!,
            subject: NodeID(publicKey: (r["subject"] as Data).bytes)!,
            tradeID: ObjectID(bytes: (r["trade_id"] as Data).bytes), rating: r["rating"],
            createdAt: UInt64(r["created_at"] as Int64), disputed: r["disputed"],
            outcome: r["outcome"], replyID: (r["reply_id"] as Data?).map { ObjectID(bytes: $0.bytes) })
    }

    /// The trust graph's raw material: every valid review (author, subject, rating) and every
    /// standing vouch, of authors whose logs did not fork.
    public func trustEdges() throws -> (reviews: [StoredReview], vouches: [(author: NodeID, subject: NodeID)]) {
        try writer.read { db in
            let reviews = try Row.fetchAll(
                db,
                sql: "SELECT * FROM reviews WHERE author NOT IN (SELECT author FROM log_forks)"
            ).map(Self.review)
            let vouches = try Row.fetchAll(
                db, sql: "SELECT author, subject FROM vouches WHERE author NOT IN (SELECT author FROM log_forks)"
            ).map {
                (NodeID(publicKey: ($0["author"] as Data).bytes)!, NodeID(publicKey: ($0["subject"] as Data).bytes)!)
            }
            return (reviews, vouches)
        }
    }

    /// Authors whose logs forked, with the fork's seq and the proof's object id.
    public func forks() throws -> [(author: NodeID, seq: UInt64, proof: ObjectID)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM log_forks ORDER BY found_at").map {
                (
                    NodeID(publicKey: ($0["author"] as Data).bytes)!, UInt64($0["seq"] as Int64),
                    ObjectID(bytes: ($0["object_id"] as Data).bytes)
                )
            }
        }
    }

    /// Conflicting entries seen for which no fork proof is held yet: (held envelope, other envelope).
    public func unprovenConflicts() throws -> [(held: [UInt8], other: [UInt8])] {
        try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT o.envelope AS held, c.envelope AS other FROM log_conflicts c JOIN objects o ON o.id = c.held
                    WHERE c.author NOT IN (SELECT author FROM log_forks)
                    """
            ).map { (($0["held"] as Data).bytes, ($0["other"] as Data).bytes) }
        }
    }

    /// Re-checks every chain (or one author's) from the stored bytes: each envelope hashes to its
    /// id and verifies, decodes as that author's entry at that seq, names the previous entry, and
    /// the seqs run 1, 2, 3, … A row changed behind the node's back shows up here.
    /// - Returns: the first broken entry of each broken chain.
    public func verifyLogs(author: NodeID? = nil) throws -> (authors: Int, entries: Int, broken: [BrokenLink]) {
        try writer.read { db in
            var sql = """
                SELECT l.author, l.seq, l.object_id, o.envelope FROM log_entries l LEFT JOIN objects o ON o.id = l.object_id
                """
            var args: [any DatabaseValueConvertible] = []
            if let author {
                sql += " WHERE l.author = ?"
                args.append(author.publicKey.data)
            }
            sql += " ORDER BY l.author, l.seq"
            var broken: [BrokenLink] = []
            var authors = 0
            var entries = 0
            var current: [UInt8]? = nil
            var expectSeq: UInt64 = 1
            var prevID = LogEntry.genesis
            var skip = false
            for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)) {
                let a = (row["author"] as Data).bytes
                if a != current {
                    current = a
                    authors += 1
                    expectSeq = 1
                    prevID = LogEntry.genesis
                    skip = false
                }
                entries += 1
                guard !skip else { continue }
                let id = ObjectID(bytes: (row["object_id"] as Data).bytes)
                let seq = UInt64(row["seq"] as Int64)
                func fail(_ why: String) {
                    broken.append(BrokenLink(author: NodeID(publicKey: a)!, seq: seq, objectID: id, reason: why))
                    skip = true
                }
                guard let bytes = (row["envelope"] as Data?)?.bytes else {
                    fail("the envelope is missing")
                    continue
                }
                guard Blake2b.hash256(bytes) == id.bytes else {
                    fail("the stored bytes do not hash to the entry's id")
                    continue
                }
                guard let e = try? Envelope(decoding: bytes), e.kind == .logEntry, e.hasValidSignature, e.signer == a,
                    let entry = try? LogEntry(decoding: e.payload)
                else {
                    fail("the stored entry does not verify as this author's log entry")
                    continue
                }
                guard seq == expectSeq, entry.seq == seq else {
                    fail("entry \(expectSeq) is missing")
                    continue
                }
                guard entry.prev == prevID else {
                    fail("it does not name entry \(seq - 1)")
                    continue
                }
                expectSeq += 1
                prevID = id
            }
            return (authors, entries, broken)
        }
    }
}
