import Foundation
import GRDB

/// The one owner of a node's SQLite file (STYLE "One database owner").
///
/// Every public write method is one transaction that keeps an invariant. The file is opened
/// in WAL mode with `synchronous = NORMAL`: a committed transaction survives `kill -9` of the
/// process (DESIGN invariant 3); only a power loss can drop the last few commits.
///
/// Checkpoints (copying the WAL back into the file, with an fsync) are kept off the write path:
/// the writer only checkpoints as a safety net once the WAL passes `autoCheckpointPages`, and
/// `checkpoint()` — called by the node every second — does the work on a connection of its own,
/// concurrently with writes. Otherwise every 1 000 pages one unlucky write pays for the copy and
/// the fsync, and on a testnet every node pays at the same object.
public struct SoukDatabase: Sendable {
    let writer: any DatabaseWriter
    /// A second connection that only runs checkpoints; `nil` for in-memory databases.
    let checkpointer: DatabaseQueue?

    /// The WAL size (in pages) at which the writer checkpoints by itself.
    public static let autoCheckpointPages = 10_000
    /// `PRAGMA cache_size` of the writer connection, in KiB (SQLite's default is 2 MiB).
    public static let writerCacheKiB = 32_768

    /// Opens (creating if needed) the database file and runs pending migrations.
    /// - Throws: `StoreError.cannotOpen` with the path and SQLite's reason.
    public static func open(path: String) throws -> SoukDatabase {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(autoCheckpointPages)")
                try db.execute(sql: "PRAGMA cache_size = -\(writerCacheKiB)")
            }
        }
        config.busyMode = .timeout(5)
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            var checkpointConfig = Configuration()
            checkpointConfig.busyMode = .timeout(5)
            checkpointConfig.label = "checkpointer"
            let checkpointer = try DatabaseQueue(path: path, configuration: checkpointConfig)
            return try SoukDatabase(writer: pool, checkpointer: checkpointer)
        } catch let error as DatabaseError {
            throw StoreError.cannotOpen(path: path, reason: error.message ?? "\(error)")
        }
    }

    /// A private in-memory database, for tests.
    public static func inMemory() throws -> SoukDatabase {
        try SoukDatabase(writer: DatabaseQueue(), checkpointer: nil)
    }

    init(writer: any DatabaseWriter, checkpointer: DatabaseQueue?) throws {
        self.writer = writer
        self.checkpointer = checkpointer
        try Self.migrator.migrate(writer)
    }

    /// Copies committed WAL frames back into the database file (a PASSIVE checkpoint: it waits for
    /// no one and blocks no writer) on the checkpoint connection. Cheap when there is nothing to do.
    /// - Returns: WAL frames in the log and frames checkpointed; `(0, 0)` for in-memory databases.
    @discardableResult
    public func checkpoint() throws -> (walFrames: Int, checkpointed: Int) {
        guard let checkpointer else { return (0, 0) }
        return try checkpointer.writeWithoutTransaction { db in
            let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
            return (row?[1] ?? 0, row?[2] ?? 0)
        }
    }

    /// The schema, built up from an empty file. Never edit a shipped migration; add one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-listings") { db in
            try db.execute(
                sql: """
                    CREATE TABLE listings (
                        rowid INTEGER PRIMARY KEY,
                        listing_id BLOB NOT NULL UNIQUE,
                        seller BLOB NOT NULL,
                        object_id BLOB NOT NULL UNIQUE,
                        envelope BLOB NOT NULL,
                        version INTEGER NOT NULL,
                        title TEXT NOT NULL,
                        description TEXT NOT NULL,
                        price_minor INTEGER NOT NULL,
                        currency TEXT NOT NULL,
                        category TEXT NOT NULL,
                        location TEXT NOT NULL,
                        country TEXT NOT NULL,
                        quantity INTEGER NOT NULL,
                        condition INTEGER NOT NULL,
                        tags TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        expires_at INTEGER NOT NULL,
                        received_at INTEGER NOT NULL
                    );
                    -- Row ids follow created_at (see freeRowID), so an index on one column is also
                    -- ordered newest-last within each key: no created_at index is needed.
                    CREATE INDEX listings_seller ON listings(seller);
                    CREATE INDEX listings_price ON listings(currency, price_minor);
                    CREATE INDEX listings_expires ON listings(expires_at);
                    CREATE INDEX listings_category ON listings(category);

                    CREATE TABLE retractions (
                        listing_id BLOB PRIMARY KEY,
                        seller BLOB NOT NULL,
                        object_id BLOB NOT NULL UNIQUE,
                        envelope BLOB NOT NULL,
                        retracted_at INTEGER NOT NULL,
                        received_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX retractions_at ON retractions(retracted_at);
                    CREATE INDEX retractions_seller ON retractions(seller);

                    CREATE VIRTUAL TABLE listings_fts USING fts5(
                        title, description, tags,
                        content = 'listings', content_rowid = 'rowid',
                        tokenize = 'unicode61 remove_diacritics 2'
                    );
                    CREATE TRIGGER listings_ai AFTER INSERT ON listings BEGIN
                        INSERT INTO listings_fts(rowid, title, description, tags)
                        VALUES (new.rowid, new.title, new.description, new.tags);
                    END;
                    CREATE TRIGGER listings_ad AFTER DELETE ON listings BEGIN
                        INSERT INTO listings_fts(listings_fts, rowid, title, description, tags)
                        VALUES ('delete', old.rowid, old.title, old.description, old.tags);
                    END;
                    CREATE TRIGGER listings_au AFTER UPDATE ON listings BEGIN
                        INSERT INTO listings_fts(listings_fts, rowid, title, description, tags)
                        VALUES ('delete', old.rowid, old.title, old.description, old.tags);
                        INSERT INTO listings_fts(rowid, title, description, tags)
                        VALUES (new.rowid, new.title, new.description, new.tags);
                    END;
                    """)
        }
        m.registerMigration("v2-peers") { db in
            try db.execute(
                sql: """
                    CREATE TABLE addresses (
                        host_port TEXT PRIMARY KEY,
                        host TEXT NOT NULL,
                        port INTEGER NOT NULL,
                        node_id BLOB,
                        source TEXT NOT NULL,
                        last_seen INTEGER NOT NULL DEFAULT 0,
                        last_attempt INTEGER NOT NULL DEFAULT 0,
                        last_success INTEGER NOT NULL DEFAULT 0,
                        failures INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE bans (
                        target TEXT PRIMARY KEY,
                        until INTEGER NOT NULL,
                        reason TEXT NOT NULL,
                        created_at INTEGER NOT NULL
                    );
                    """)
        }
        m.registerMigration("v3-objects") { db in try Self.migrateToObjectTable(db) }
        m.registerMigration("v4-inbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE inbox (
                        delivery_id BLOB PRIMARY KEY,
                        body_hash BLOB NOT NULL,
                        body BLOB NOT NULL,
                        expires_at INTEGER NOT NULL,
                        received_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        m.registerMigration("v5-search") { db in
            // English stemming (porter) over unicode61 with diacritics folded, and the category in
            // the text index; rebuilt from the listings table.
            try db.execute(
                sql: """
                    DROP TRIGGER listings_ai;
                    DROP TRIGGER listings_ad;
                    DROP TRIGGER listings_au;
                    DROP TABLE listings_fts;
                    CREATE VIRTUAL TABLE listings_fts USING fts5(
                        title, tags, category, description,
                        content = 'listings', content_rowid = 'rowid',
                        tokenize = 'porter unicode61 remove_diacritics 2'
                    );
                    CREATE TRIGGER listings_ai AFTER INSERT ON listings BEGIN
                        INSERT INTO listings_fts(rowid, title, tags, category, description)
                        VALUES (new.rowid, new.title, new.tags, new.category, new.description);
                    END;
                    CREATE TRIGGER listings_ad AFTER DELETE ON listings BEGIN
                        INSERT INTO listings_fts(listings_fts, rowid, title, tags, category, description)
                        VALUES ('delete', old.rowid, old.title, old.tags, old.category, old.description);
                    END;
                    CREATE TRIGGER listings_au AFTER UPDATE ON listings BEGIN
                        INSERT INTO listings_fts(listings_fts, rowid, title, tags, category, description)
                        VALUES ('delete', old.rowid, old.title, old.tags, old.category, old.description);
                        INSERT INTO listings_fts(rowid, title, tags, category, description)
                        VALUES (new.rowid, new.title, new.tags, new.category, new.description);
                    END;
                    INSERT INTO listings_fts(listings_fts) VALUES ('rebuild');
                    """)
        }
        m.registerMigration("v6-own-expired") { db in
            // A seller's own listings that expired: kept for `listing mine` and `listing renew` after
            // the sweeper removed them from the shared tables (other nodes forget them).
            try db.execute(
                sql: """
                    CREATE TABLE own_expired (
                        listing_id BLOB PRIMARY KEY,
                        envelope BLOB NOT NULL,
                        expired_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        m.registerMigration("v7-trades") { db in try Self.migrateTrades(db) }
        m.registerMigration("v8-reputation") { db in try Self.migrateReputation(db) }
        return m
    }
}

/// Store failures that are not refusals of an object.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case invalidCursor
    /// Search text without a word to search for.
    case invalidQuery(String)
    /// A price sort without a currency: prices in different currencies cannot be compared.
    case priceSortNeedsCurrency

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open database \(path): \(reason)"
        case .invalidCursor: return "invalid or stale pagination cursor"
        case .invalidQuery(let why): return why
        case .priceSortNeedsCurrency:
            return "sorting by price needs a currency: prices in different currencies cannot be compared"
        }
    }
}

extension Array where Element == UInt8 {
    var data: Data { Data(self) }
}

extension Data {
    var bytes: [UInt8] { [UInt8](self) }
}
