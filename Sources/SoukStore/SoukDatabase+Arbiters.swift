import Foundation
import GRDB
public import SoukCore

/// Arbiter profiles (kind 4): one per signer in `arbiters`; a higher version replaces the held one.
enum ArbiterApplier: ObjectApplier {
    static var kind: ObjectKind { .arbiterProfile }
    static var indexTable: String? { "arbiters" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let profile = w.object.payload(as: ArbiterProfile.self) else { return .rejected(wrongKind(w.object)) }
        let outcome = try w.storeReplacingOwnVersion(profile.version, table: "arbiters")
        guard outcome.changedStore else { return outcome }
        try w.db.cachedStatement(
            sql: """
                INSERT INTO arbiters (signer, object_id, version, display_name, updated_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(signer) DO UPDATE SET object_id = excluded.object_id, version = excluded.version,
                    display_name = excluded.display_name, updated_at = excluded.updated_at,
                    expires_at = excluded.expires_at
                """
        ).execute(arguments: [
            w.object.signer.data, w.object.id.bytes.data, Int64(profile.version), profile.displayName,
            Int64(profile.updatedAt), Int64(profile.expiresAt),
        ])
        return outcome
    }
}

/// An arbiter profile as the store holds it.
public struct StoredArbiter: Sendable, Equatable {
    public let signer: NodeID
    public let objectID: ObjectID
    public let envelope: [UInt8]
    public let profile: ArbiterProfile
}

extension SoukDatabase {
    /// Arbiter profiles held and not expired at `now`, by display name; or one arbiter's.
    public func arbiters(now: UInt64, only signer: NodeID? = nil, limit: Int = 500) throws -> [StoredArbiter] {
        try writer.read { db in
            var sql = """
                SELECT a.signer, o.envelope FROM arbiters a JOIN objects o ON o.id = a.object_id
                WHERE a.expires_at > ?
                """
            var args: [any DatabaseValueConvertible] = [Int64(clamping: now)]
            if let signer {
                sql += " AND a.signer = ?"
                args.append(signer.publicKey.data)
            }
            sql += " ORDER BY a.display_name, a.signer LIMIT ?"
            args.append(limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { row in
                let bytes = (row["envelope"] as Data).bytes
                do {
                    let envelope = try Envelope(decoding: bytes)
                    return StoredArbiter(
                        signer: NodeID(publicKey: envelope.signer)!, objectID: envelope.id, envelope: bytes,
                        profile: try ArbiterProfile(decoding: envelope.payload))
                } catch {
                    throw StoreCorruption(detail: "stored arbiter profile does not decode: \(error)")
                }
            }
        }
    }
}
