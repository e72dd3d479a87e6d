import Foundation
import GRDB
import SoukCore

extension SoukDatabase {
    /// v3: one table of verbatim envelopes for every kind (`objects`), running totals per kind for
    /// reconciliation and counts (`object_totals`), and the listing and tombstone tables reduced to
    /// index tables that point into it. Existing listings and tombstones move over unchanged.
    static func migrateToObjectTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE objects (
                    rowid INTEGER PRIMARY KEY,
                    id BLOB NOT NULL UNIQUE,
                    kind INTEGER NOT NULL,
                    signer BLOB NOT NULL,
                    timestamp INTEGER NOT NULL,
                    retain_until INTEGER,
                    gossip INTEGER NOT NULL,
                    envelope BLOB NOT NULL,
                    received_at INTEGER NOT NULL
                );
                -- The reconciled set in (timestamp, id) order, and what the sweeper and quotas look up.
                CREATE INDEX objects_recon ON objects(timestamp, id) WHERE gossip = 1;
                CREATE INDEX objects_retain ON objects(retain_until) WHERE retain_until IS NOT NULL;
                CREATE INDEX objects_signer ON objects(kind, signer);

                -- Per kind: how many objects are held and the sum of their ids as eight 32-bit
                -- little-endian limbs (not carried), so the fingerprint of a whole set costs nothing.
                CREATE TABLE object_totals (
                    kind INTEGER PRIMARY KEY,
                    count INTEGER NOT NULL,
                    l0 INTEGER NOT NULL, l1 INTEGER NOT NULL, l2 INTEGER NOT NULL, l3 INTEGER NOT NULL,
                    l4 INTEGER NOT NULL, l5 INTEGER NOT NULL, l6 INTEGER NOT NULL, l7 INTEGER NOT NULL
                );

                INSERT INTO objects (id, kind, signer, timestamp, retain_until, gossip, envelope, received_at)
                    SELECT object_id, 1, seller, updated_at, expires_at, 1, envelope, received_at FROM listings
                    ORDER BY rowid;
                INSERT INTO objects (id, kind, signer, timestamp, retain_until, gossip, envelope, received_at)
                    SELECT object_id, 2, seller, retracted_at, retracted_at + \(ListingRetraction.retention + 1), 1,
                        envelope, received_at FROM retractions;
                ALTER TABLE listings DROP COLUMN envelope;
                ALTER TABLE retractions DROP COLUMN envelope;

                CREATE TABLE profiles (
                    signer BLOB PRIMARY KEY,
                    object_id BLOB NOT NULL UNIQUE,
                    version INTEGER NOT NULL,
                    display_name TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        let rows = try Row.fetchCursor(db, sql: "SELECT kind, id FROM objects")
        var totals: [Int: ObjectTotals] = [:]
        while let row = try rows.next() {
            totals[row["kind"], default: ObjectTotals()].add(ObjectID(bytes: (row["id"] as Data).bytes))
        }
        for (kind, t) in totals { try t.save(kind: kind, db: db) }
    }
}
