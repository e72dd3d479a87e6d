import Foundation
import GRDB
import SoukCore
import SoukCrypto
import Testing

@testable import SoukStore

/// Reputation logs in the store (`Specs/reputation.md`): entries wait for their predecessor, a
/// second entry at a held seq is a fork (and a fork proof freezes the log), void payloads stay
/// links, one review per reviewer and trade, and `verifyLogs` finds rows changed behind the
/// node's back (which are never served).
@Suite("store: reputation logs")
struct ReputationStoreTests {
    let alice = Fixture.key(11)
    let bob = Fixture.key(12)
    let t = Fixture.now

    func entry(_ key: SigningKey, _ seq: UInt64, prev: ObjectID, _ body: LogEntry.Body) throws -> VerifiedObject {
        let e = LogEntry(network: "testnet", seq: seq, prev: prev, createdAt: t - 100 + seq, body: body)
        return try VerifiedObject(envelope: Envelope(kind: .logEntry, payload: e.encoded(), signingKey: key), now: t)
    }

    var bobID: NodeID { NodeID(publicKey: bob.publicKey)! }

    @Test func entriesChainWaitAndForkFreezesTheLog() throws {
        let db = try SoukDatabase.inMemory()
        let e1 = try entry(alice, 1, prev: LogEntry.genesis, .vouch(bobID, note: "neighbour"))
        let e2 = try entry(alice, 2, prev: e1.id, .revoke(bobID))
        #expect(try db.apply(e2, now: t) == .deferred(.logEntry(author: alice.publicKey, seq: 1)))
        #expect(try db.apply(e1, now: t) == .inserted)
        #expect(try db.trustEdges().vouches.count == 1)
        #expect(try db.apply(e2, now: t) == .inserted)
        #expect(try db.trustEdges().vouches.isEmpty, "revoked")
        #expect(try db.logHead(NodeID(publicKey: alice.publicKey)!)?.seq == 2)
        // A second entry at seq 2: a fork, refused without blame and remembered.
        let other = try entry(alice, 2, prev: e1.id, .vouch(bobID, note: "again"))
        guard case .rejected(let e) = try db.apply(other, now: t) else {
            Issue.record("a fork")
            return
        }
        #expect(e.code == .forkedLog && !e.misbehaving)
        let conflicts = try db.unprovenConflicts()
        #expect(conflicts.count == 1)
        let proof = ForkProof(conflicts[0].held, conflicts[0].other)
        let proofObject = try VerifiedObject(
            envelope: Envelope(kind: .forkProof, payload: proof.encoded(), signingKey: bob), now: t)
        #expect(try db.apply(proofObject, now: t) == .inserted)
        #expect(try db.unprovenConflicts().isEmpty)
        #expect(try db.forks().first?.seq == 2)
        // One proof per author; the log is frozen from the fork on.
        let again = try VerifiedObject(
            envelope: Envelope(kind: .forkProof, payload: proof.encoded(), signingKey: alice), now: t)
        #expect(try db.apply(again, now: t) == .stale(currentVersion: 1))
        let e3 = try entry(alice, 3, prev: e2.id, .vouch(bobID, note: ""))
        guard case .rejected(let frozen) = try db.apply(e3, now: t) else {
            Issue.record("frozen")
            return
        }
        #expect(frozen.code == .forkedLog)
        // A chain naming another predecessor than the held one.
        let stray = try entry(bob, 1, prev: LogEntry.genesis, .vouch(NodeID(publicKey: alice.publicKey)!, note: ""))
        _ = try db.apply(stray, now: t)
        let wrongPrev = try entry(bob, 2, prev: e1.id, .revoke(NodeID(publicKey: alice.publicKey)!))
        guard case .rejected = try db.apply(wrongPrev, now: t) else {
            Issue.record("wrong prev")
            return
        }
    }

    @Test func voidPayloadsStayLinks() throws {
        let db = try SoukDatabase.inMemory()
        // A vouch for oneself is void but keeps the chain going.
        let e1 = try entry(alice, 1, prev: LogEntry.genesis, .vouch(NodeID(publicKey: alice.publicKey)!, note: ""))
        #expect(try db.apply(e1, now: t) == .inserted)
        let e2 = try entry(alice, 2, prev: e1.id, .vouch(bobID, note: "ok"))
        #expect(try db.apply(e2, now: t) == .inserted)
        let log = try db.log(NodeID(publicKey: alice.publicKey)!)
        #expect(log.map(\.voidReason) == ["nobody vouches for itself", nil])
        #expect(try db.trustEdges().vouches.count == 1)
        // A reply to a review that is not held (or not of the replier) is void.
        let e3 = try entry(alice, 3, prev: e2.id, .reply(to: e1.id, text: "thanks"))
        #expect(try db.apply(e3, now: t) == .inserted)
        #expect(try db.log(NodeID(publicKey: alice.publicKey)!, fromSeq: 3).first?.voidReason != nil)
    }

    @Test func verifyLogsFindsRowsChangedBehindTheNodesBackAndTheyAreNotServed() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try SoukDatabase.open(path: dir.appendingPathComponent("s.sqlite").path)
        var prev = LogEntry.genesis
        var ids: [ObjectID] = []
        for seq in UInt64(1)...4 {
            let e = try entry(alice, seq, prev: prev, .vouch(bobID, note: "\(seq)"))
            #expect(try db.apply(e, now: t) == .inserted)
            prev = e.id
            ids.append(e.id)
        }
        #expect(try db.verifyLogs().broken.isEmpty)
        #expect(try db.envelopes(ids).count == 4)
        // Someone edits entry 3's bytes in the SQLite file.
        try db.writer.write { d in
            try d.execute(
                sql:
                    "UPDATE objects SET envelope = CAST(substr(envelope, 1, length(envelope) - 1) || x'00' AS BLOB) WHERE id = ?",
                arguments: [Data(ids[2].bytes)])
        }
        let r = try db.verifyLogs()
        #expect(r.authors == 1 && r.entries == 4)
        #expect(r.broken.count == 1 && r.broken[0].seq == 3 && r.broken[0].reason.contains("hash"))
        #expect(try db.envelopes(ids).map(\.id) == [ids[0], ids[1], ids[3]], "a changed row is never served")
    }
}
