import Foundation
import GRDB
public import SoukCore

/// Node profiles (kind 3): one per signer in `profiles`; a higher version replaces the held one.
enum ProfileApplier: ObjectApplier {
    static var kind: ObjectKind { .nodeProfile }
    static var indexTable: String? { "profiles" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let profile = w.object.payload(as: NodeProfile.self) else { return .rejected(wrongKind(w.object)) }
        let outcome = try w.storeReplacingOwnVersion(profile.version, table: "profiles")
        guard outcome.changedStore else { return outcome }
        try w.db.cachedStatement(
            sql: """
                INSERT INTO profiles (signer, object_id, version, display_name, updated_at, expires_at)
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

/// A node profile as the store holds it.
public struct StoredProfile: Sendable, Equatable {
    public let signer: NodeID
    public let objectID: ObjectID
    public let envelope: [UInt8]
    public let profile: NodeProfile
    public let receivedAt: UInt64
}

extension SoukDatabase {
    /// The profile held for a node key, expired or not; `nil` if none.
    public func profile(of signer: NodeID) throws -> StoredProfile? {
        try writer.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT o.envelope, o.received_at FROM profiles p JOIN objects o ON o.id = p.object_id
                        WHERE p.signer = ?
                        """,
                    arguments: [signer.publicKey.data])
            else { return nil }
            let bytes = (row["envelope"] as Data).bytes
            let envelope: Envelope
            let profile: NodeProfile
            do {
                envelope = try Envelope(decoding: bytes)
                profile = try NodeProfile(decoding: envelope.payload)
            } catch {
                throw StoreCorruption(detail: "stored profile does not decode: \(error)")
            }
            return StoredProfile(
                signer: signer, objectID: envelope.id, envelope: bytes, profile: profile,
                receivedAt: UInt64(row["received_at"] as Int64))
        }
    }
}
