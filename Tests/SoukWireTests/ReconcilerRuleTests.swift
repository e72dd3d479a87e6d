import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

/// The reconciliation rules as `Specs/wire.md` states them, one by one (the end-to-end convergence
/// tests are in ReconciliationTests.swift).
@Suite("Reconciler rules")
struct ReconcilerRuleTests {
    static func items(_ n: Int, seed: UInt64, start: UInt64 = Fixture.time) -> [ReconItem] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { i in
            ReconItem(
                timestamp: start + UInt64(i / 2),
                id: ObjectID(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        }
    }

    @Test("parameters: id lists up to 32 items, 16-way splits, 16-byte short ids, 256 ranges per message")
    func parameters() {
        #expect(Reconciler.idListThreshold == 32)
        #expect(Reconciler.branching == 16)
        #expect(ShortID.byteCount == 16)
        #expect(ReconMessage.maxRanges == 256)
    }

    @Test("the first message: an id list when there are at most 32 items, else one fingerprint of all")
    func initialMessage() {
        let small = Self.items(32, seed: 1)
        #expect(
            Reconciler(items: small).initialMessage().ranges == [
                ReconRange(upper: .infinity, mode: .idList(small.sorted().map { ShortID($0.id) }))
            ])
        let large = Self.items(33, seed: 1)
        #expect(
            Reconciler(items: large).initialMessage().ranges == [
                ReconRange(upper: .infinity, mode: .fingerprint(Reconciler.fingerprint(large.sorted()[...])))
            ])
    }

    @Test("equal fingerprints: the reply is empty (the node then sends the done message)")
    func equalSets() {
        let set = Self.items(500, seed: 2)
        let outcome = Reconciler(items: set.shuffled()).process(Reconciler(items: set).initialMessage())
        #expect(outcome == Reconciler.Outcome(reply: nil, need: [], have: []))
    }

    @Test("a differing range of more than 32 items is split into 16 fingerprinted sub-ranges")
    func split() throws {
        let mine = Self.items(1600, seed: 3)
        let theirs = Array(mine.dropLast())
        let outcome = Reconciler(items: mine).process(Reconciler(items: theirs).initialMessage())
        let reply = try #require(outcome.reply)
        #expect(reply.ranges.count == 16)
        #expect(reply.ranges.last?.upper == .infinity)
        let sorted = mine.sorted()
        var lower = 0
        for range in reply.ranges {
            guard case .fingerprint(let fp) = range.mode else {
                Issue.record("expected fingerprints")
                return
            }
            // Each sub-range holds 100 items, and its bound separates item 99 from item 100.
            let slice = sorted[lower..<min(lower + 100, sorted.count)]
            #expect(fp == Reconciler.fingerprint(slice))
            if range.upper != .infinity {
                #expect(range.upper.isAbove(sorted[lower + 99]))
                #expect(!range.upper.isAbove(sorted[lower + 100]))
            }
            lower += 100
        }
        // Bounds strictly increase.
        for (x, y) in zip(reply.ranges, reply.ranges.dropFirst()) { #expect(ReconBound.lessThan(x.upper, y.upper)) }
        #expect(outcome.need.isEmpty && outcome.have.isEmpty)
    }

    @Test("a differing range of at most 32 items is answered with its id list")
    func smallRangeListsIDs() throws {
        let theirs = Self.items(40, seed: 4)
        let mine = Array(theirs.sorted().dropFirst(10))
        let message = Reconciler(items: theirs).initialMessage()
        guard case .fingerprint = message.ranges[0].mode else {
            Issue.record("40 items are sent as a fingerprint")
            return
        }
        let outcome = Reconciler(items: mine).process(message)
        let reply = try #require(outcome.reply)
        #expect(reply.ranges == [ReconRange(upper: .infinity, mode: .idList(mine.sorted().map { ShortID($0.id) }))])
    }

    @Test("an id list is answered with skip; the difference becomes need and have")
    func idListProcessing() throws {
        let shared = Self.items(10, seed: 5)
        let onlyMine = Self.items(3, seed: 6, start: Fixture.time + 1000)
        let onlyTheirs = Self.items(4, seed: 7, start: Fixture.time + 2000)
        let message = Reconciler(items: shared + onlyTheirs).initialMessage()
        guard case .idList = message.ranges[0].mode else {
            Issue.record("expected an id list")
            return
        }
        let outcome = Reconciler(items: shared + onlyMine).process(message)
        #expect(outcome.reply == nil, "every range is skip: done")
        #expect(Set(outcome.need) == Set(onlyTheirs.map { ShortID($0.id) }))
        #expect(Set(outcome.have) == Set(onlyMine.map(\.id)))
    }

    @Test("skip ranges are echoed and adjacent skips merged")
    func skipsMerge() {
        let set = Self.items(100, seed: 8)
        let sorted = set.sorted()
        let bound = ReconBound.between(sorted[49], sorted[50])
        let message = ReconMessage(ranges: [
            ReconRange(upper: bound, mode: .skip),
            ReconRange(upper: .infinity, mode: .fingerprint(Reconciler.fingerprint(sorted[50...]))),
        ])
        #expect(Reconciler(items: set).process(message).reply == nil)
    }

    @Test("bounds: between() gives the shortest bound above the previous item and at or below the next")
    func bounds() {
        let p = ReconItem(timestamp: 5, id: ObjectID(bytes: [0x12, 0x34] + [UInt8](repeating: 0xff, count: 30)))
        let n = ReconItem(timestamp: 5, id: ObjectID(bytes: [0x12, 0x35] + [UInt8](repeating: 0x00, count: 30)))
        let b = ReconBound.between(p, n)
        #expect(b == ReconBound(timestamp: 5, prefix: [0x12, 0x35]))
        #expect(b.isAbove(p) && !b.isAbove(n))
        let later = ReconItem(timestamp: 6, id: n.id)
        #expect(ReconBound.between(p, later) == ReconBound(timestamp: 6, prefix: []))
        #expect(ReconBound.infinity.isAbove(later))
        #expect(
            !ReconBound.zero.isAbove(ReconItem(timestamp: 0, id: ObjectID(bytes: [UInt8](repeating: 0, count: 32)))))
    }

    /// Every reply must stay within `ReconMessage.maxRanges`, or the peer refuses it and bans us:
    /// `process` splits differing ranges only while its range budget allows.
    @Test("every reply a reconciler sends is one the peer can decode, even for large scattered differences")
    func repliesStayDecodable() {
        let all = Self.items(12_000, seed: 9)
        var rng = SplitMix64(seed: 10)
        // 400 items scattered over the whole range are missing on one side.
        let missing = Set(all.shuffled(using: &rng).prefix(400))
        let a = Reconciler(items: all)
        let b = Reconciler(items: all.filter { !missing.contains($0) })
        var message: ReconMessage? = b.initialMessage()
        var sender = b
        var receiver = a
        var largest = 0
        var undecodable = 0
        var rounds = 0
        while let m = message, rounds < 20 {
            largest = max(largest, m.ranges.count)
            if (try? PeerMessage(decoding: PeerMessage.reconcile(m).encoded())) == nil { undecodable += 1 }
            message = receiver.process(m).reply
            swap(&sender, &receiver)
            rounds += 1
        }
        #expect(largest <= ReconMessage.maxRanges, "a reply had \(largest) ranges")
        #expect(undecodable == 0)
    }

    /// wire.md §8.3: a differing range of n items is split into groups of ceil(n/16), the last one
    /// shorter, so 33 items make 11 groups (10 of 3, one of 3), 49 make 13 (12 of 4 and one of 1).
    @Test(
        "a differing range splits into groups of ceil(n/16) items",
        arguments: [(33, 11), (40, 14), (48, 16), (49, 13), (100, 15), (257, 16)])
    func splitGroups(n: Int, groups: Int) {
        let mine = Self.items(n, seed: 40)
        let theirs = Self.items(n, seed: 41)
        let reply = Reconciler(items: mine).process(Reconciler(items: theirs).initialMessage()).reply
        #expect(reply?.ranges.count == groups)
        #expect(reply?.ranges.allSatisfy { if case .fingerprint = $0.mode { true } else { false } } == true)
    }

    /// wire.md §8.1: a bound is (timestamp, prefix padded with zeros), so (2^64 − 1, 00) is the same
    /// point as infinity and ends a message as well as (2^64 − 1, "").
    @Test("a last bound of (2^64 - 1, 00) is infinity too")
    func paddedInfinity() throws {
        var w = ByteWriter()
        w.writeByte(0x30)
        w.writeVarint(1)
        w.writeVarint(.max)
        w.writeLengthPrefixed([0x00])
        w.writeByte(0)
        let m = try PeerMessage(decoding: w.bytes)
        guard case .reconcile(let r) = m else {
            Issue.record("not a reconcile message")
            return
        }
        #expect(r.isDone)
        var below = ByteWriter()
        below.writeByte(0x30)
        below.writeVarint(1)
        below.writeVarint(.max - 1)
        below.writeLengthPrefixed([0xff])
        below.writeByte(0)
        #expect(throws: WireError.self, "a last bound below infinity is refused") {
            try PeerMessage(decoding: below.bytes)
        }
    }
}
