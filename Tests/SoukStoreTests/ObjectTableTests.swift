import Foundation
import SoukCore
import SoukCrypto
import Testing

@testable import SoukStore

@Suite("One table of objects: totals, reconciliation ranges, profiles, quotas per kind, migration")
struct ObjectTableTests {
    let now = Fixture.now

    /// Count and id sum computed from scratch, to compare with the running totals.
    static func expectedTotals(_ ids: [ObjectID]) -> ObjectTotals {
        var t = ObjectTotals()
        for id in ids { t.add(id) }
        return t
    }

    static func profile(_ key: SigningKey, version: UInt64, at time: UInt64, name: String = "Stall") throws
        -> VerifiedObject
    {
        let p = NodeProfile(version: version, updatedAt: time, expiresAt: time + 86_400, displayName: name)
        return try VerifiedObject(
            envelope: Envelope(kind: .nodeProfile, payload: p.encoded(), signingKey: key), now: time)
    }

    /// Every held object id of these kinds, read the slow way.
    static func heldIDs(_ db: SoukDatabase, kinds: [ObjectKind]) throws -> [ObjectID] {
        try db.reconItems(kinds: kinds, from: (0, []), to: nil).map(\.id)
    }

    @Test("running totals equal a recount after inserts, replacements, tombstones and pruning")
    func totalsStayExact() throws {
        let db = try SoukDatabase.inMemory()
        let kinds = ObjectRegistry.kinds
        let alice = Fixture.key(1)
        var objects: [VerifiedObject] = []
        for i in 0..<20 {
            objects.append(try Fixture.listing(key: alice, salt: Fixture.salt(i), createdAt: now - 1_000 + UInt64(i)))
        }
        #expect(try db.applyBatch(objects, now: now).allSatisfy { $0 == .inserted })
        let update = try Fixture.listing(key: alice, salt: Fixture.salt(3), version: 2, createdAt: now - 997)
        #expect(try db.apply(update, now: now) == .updated(fromVersion: 1))
        let tomb = try Fixture.retraction(key: alice, salt: Fixture.salt(4), retractedAt: now)
        #expect(try db.apply(tomb, now: now) == .retracted)
        #expect(try db.apply(try Self.profile(alice, version: 1, at: now), now: now) == .inserted)
        #expect(try db.apply(try Self.profile(alice, version: 2, at: now), now: now) == .updated(fromVersion: 1))

        let held = try Self.heldIDs(db, kinds: kinds)
        #expect(held.count == 19 + 1 + 1)  // 19 listings, the tombstone of the 20th, one profile
        #expect(try db.reconTotals(kinds: kinds) == Self.expectedTotals(held))
        #expect(try db.objectCounts() == [.listing: 19, .listingRetraction: 1, .nodeProfile: 1])
        #expect(try db.reconTotals(kinds: [.listing]).count == 19)

        // Pruning (listings expire 7 days after they were made, the profile after one) keeps the
        // totals exact too.
        let removed = try db.pruneObjects(now: now + 86_400 * 8)
        #expect(removed[.listing] == 19 && removed[.nodeProfile] == 1 && removed[.listingRetraction] == nil)
        let left = try Self.heldIDs(db, kinds: kinds)
        #expect(left == [tomb.id])
        #expect(try db.reconTotals(kinds: kinds) == Self.expectedTotals(left))
        #expect(try db.objectCounts()[.listing] == 0)
        #expect(
            try db.listing(update.listingID) == nil && (try db.profile(of: NodeID(publicKey: alice.publicKey)!)) == nil)
    }

    @Test("the id sum wraps modulo 2^256 like the reconciliation fingerprint's")
    func sumWraps() {
        var t = ObjectTotals()
        t.add(ObjectID(bytes: [UInt8](repeating: 0xff, count: 32)))
        t.add(ObjectID(bytes: [2] + [UInt8](repeating: 0, count: 31)))
        #expect(t.sum == [1] + [UInt8](repeating: 0, count: 31))
        t.remove(ObjectID(bytes: [2] + [UInt8](repeating: 0, count: 31)))
        #expect(t.sum == [UInt8](repeating: 0xff, count: 32) && t.count == 1)
    }

    @Test("reconciliation ranges are half-open, in (timestamp, id) order, and a bound's prefix pads with zeros")
    func reconRanges() throws {
        let db = try SoukDatabase.inMemory()
        let objects = try (0..<6).map { i in
            try Fixture.listing(
                key: Fixture.key(UInt8(i + 1)), salt: Fixture.salt(i), createdAt: now - 100 + UInt64(i / 2))
        }
        _ = try db.applyBatch(objects, now: now)
        let all = try db.reconItems(kinds: ObjectRegistry.kinds, from: (0, []), to: nil)
        #expect(all.count == 6)
        #expect(zip(all, all.dropFirst()).allSatisfy { a, b in (a.timestamp, a.id) < (b.timestamp, b.id) })
        let third = all[2]
        // [0, third) and [third, ∞) partition the set; the bound is third's own point.
        let below = try db.reconItems(kinds: ObjectRegistry.kinds, from: (0, []), to: (third.timestamp, third.id.bytes))
        let above = try db.reconItems(kinds: ObjectRegistry.kinds, from: (third.timestamp, third.id.bytes), to: nil)
        #expect(below.map(\.id) == all.prefix(2).map(\.id) && above.map(\.id) == all.dropFirst(2).map(\.id))
        // A short prefix stands for itself padded with zeros; a timestamp bound alone starts the second.
        let fromSecond = try db.reconItems(kinds: ObjectRegistry.kinds, from: (third.timestamp, []), to: nil)
        #expect(fromSecond.first?.timestamp == third.timestamp)
        // A bound past what SQLite integers hold is above everything.
        #expect(try db.reconItems(kinds: ObjectRegistry.kinds, from: (.max, []), to: nil).isEmpty)
        #expect(try db.reconItems(kinds: ObjectRegistry.kinds, from: (0, []), to: (.max, [0])).count == 6)
        #expect(try db.reconItems(kinds: [.nodeProfile], from: (0, []), to: nil).isEmpty, "filtered by kind")
    }

    @Test("profiles: one per signer, higher versions replace, lower or equal are stale; quota per kind")
    func profileRules() throws {
        let db = try SoukDatabase.inMemory()
        let bob = Fixture.key(2)
        let v2 = try Self.profile(bob, version: 2, at: now, name: "Bob v2")
        #expect(try db.apply(v2, now: now) == .inserted)
        #expect(try db.apply(v2, now: now) == .duplicate)
        #expect(
            try db.apply(try Self.profile(bob, version: 2, at: now, name: "Other"), now: now)
                == .stale(currentVersion: 2))
        #expect(try db.apply(try Self.profile(bob, version: 1, at: now), now: now) == .stale(currentVersion: 2))
        let v3 = try Self.profile(bob, version: 3, at: now + 1, name: "Bob v3")
        #expect(try db.apply(v3, now: now) == .updated(fromVersion: 2))
        let held = try #require(try db.profile(of: NodeID(publicKey: bob.publicKey)!))
        #expect(held.profile.displayName == "Bob v3" && held.objectID == v3.id && held.envelope == v3.envelope.bytes)
        #expect(try db.hasObject(v3.id) && !(try db.hasObject(v2.id)))
        // A quota of 0 profiles per signer refuses a new one; replacements take no new slot.
        var quotas = ObjectQuotas.default
        quotas.perSigner[ObjectKind.nodeProfile.rawValue] = 0
        #expect(
            try db.apply(try Self.profile(Fixture.key(3), version: 1, at: now), now: now, quotas: quotas)
                == .quotaExceeded(limit: 0))
        #expect(
            try db.apply(try Self.profile(bob, version: 4, at: now + 2), now: now, quotas: quotas)
                == .updated(fromVersion: 3))
        // Listing quotas are their own: a seller full of listings can still publish a profile.
        #expect(
            try db.apply(try Fixture.listing(key: bob, salt: Fixture.salt(1)), now: now, maxActivePerSeller: 1)
                == .inserted)
        #expect(
            try db.apply(try Fixture.listing(key: bob, salt: Fixture.salt(2)), now: now, maxActivePerSeller: 1)
                == .quotaExceeded(limit: 1))
    }

    @Test("served envelopes: exact ids and short-id prefixes, gossiped objects only")
    func serving() throws {
        let db = try SoukDatabase.inMemory()
        let obj = try Fixture.listing(key: Fixture.key(1), salt: Fixture.salt(1))
        _ = try db.apply(obj, now: now)
        #expect(try db.envelopes([obj.id, ObjectID(bytes: [UInt8](repeating: 9, count: 32))]).map(\.id) == [obj.id])
        #expect(try db.envelopes(prefixes: [Array(obj.id.bytes.prefix(16))]).map(\.envelope) == [obj.envelope.bytes])
        #expect(try db.envelopes(prefixes: [[UInt8](repeating: 9, count: 16)]).isEmpty)
    }

    @Test("a database written by the previous release (v2 schema) opens with every listing and tombstone")
    func migratesV2File() throws {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let fixture = here.appendingPathComponent("Fixtures/v2-listings.sqlite")
        let ids = try String(contentsOf: here.appendingPathComponent("Fixtures/v2-listings.ids"), encoding: .utf8)
            .split(separator: "\n").map { ListingID(hex: String($0))! }
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("souk.sqlite").path
        try FileManager.default.copyItem(atPath: fixture.path, toPath: path)

        let db = try SoukDatabase.open(path: path)
        // The fixture: three listings made at 1 796 674 901-902 by `souk` 0.1.0 (commit d377da3);
        // the second updated to version 2 (price 99), the third retracted.
        let written: UInt64 = 1_796_675_000
        let first = try #require(try db.listing(ids[0]))
        let second = try #require(try db.listing(ids[1]))
        #expect(first.listing.title == "Vintage road bicycle" && second.listing.version == 2)
        #expect(second.listing.price.minorUnits == 9_900)
        #expect(try db.listing(ids[2]) == nil && (try db.retraction(ids[2])) != nil)
        // Envelopes moved verbatim: they still verify and name the same ids.
        for stored in [first, second] {
            let v = try VerifiedObject(bytes: stored.envelope, now: written)
            #expect(v.id == stored.objectID)
        }
        #expect(try db.counts(now: written) == (listings: 2, retractions: 1))
        let kinds = ObjectRegistry.kinds
        #expect(try db.reconTotals(kinds: kinds) == Self.expectedTotals(try Self.heldIDs(db, kinds: kinds)))
        #expect(try db.reconTotals(kinds: kinds).count == 3)
        // Search still finds them through the rebuilt tables.
        #expect(Fixture.titles(try db.search(Fixture.query("vintage"), now: written)) == ["Vintage road bicycle"])
        #expect(Fixture.titles(try db.search(Fixture.query("road bike"), now: written)) == ["Vintage road bicycle"])
        // And the file keeps working: a new listing, then reopening.
        #expect(
            try db.apply(
                try Fixture.listing(
                    key: Fixture.key(5), salt: Fixture.salt(5), createdAt: written, verifiedAt: written), now: written)
                == .inserted)
        let reopened = try SoukDatabase.open(path: path)
        #expect(try reopened.counts(now: written).listings == 3)
    }
}
