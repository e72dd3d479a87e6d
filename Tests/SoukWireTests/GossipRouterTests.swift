import SoukCore
import Testing

@testable import SoukWire

@Suite("GossipRouter")
struct GossipRouterTests {
    static let a = Fixture.objectID(0x01)
    static let b = Fixture.objectID(0x41)
    static let c = Fixture.objectID(0x81)

    static func router(peers: [Int] = [1, 2, 3]) -> GossipRouter {
        var r = GossipRouter()
        for k in peers { r.addPeer(k) }
        return r
    }

    @Test("settings: graft after 150 ms")
    func defaults() {
        #expect(GossipRouter.Settings().graftTimeout == 0.15)
    }

    @Test("a new object is pushed to every eager peer; new peers start eager")
    func pushToEager() {
        var r = Self.router()
        #expect(r.isEager(1) && r.isEager(2) && r.isEager(3))
        #expect(r.published(Self.a) == [.push(1, [Self.a]), .push(2, [Self.a]), .push(3, [Self.a])])
        #expect(r.tick(now: 0).isEmpty, "nothing to announce when every peer got the body")
        #expect(r.published(Self.a).isEmpty, "never the same id twice to a peer")
    }

    @Test("lazy peers get the id in a batched ihave on the next tick")
    func announceToLazy() {
        var r = Self.router()
        r.pruned(from: 2)
        #expect(!r.isEager(2))
        #expect(r.published(Self.a) == [.push(1, [Self.a]), .push(3, [Self.a])])
        #expect(r.published(Self.b) == [.push(1, [Self.b]), .push(3, [Self.b])])
        #expect(r.tick(now: 0) == [.announce(2, [Self.a, Self.b])])
        #expect(r.tick(now: 0.02).isEmpty, "announced once")
    }

    @Test("a received object is relayed to everyone but its sender")
    func relayExceptSource() {
        var r = Self.router()
        #expect(r.received(Self.a, from: 2, via: .push, isNew: true) == [.push(1, [Self.a]), .push(3, [Self.a])])
    }

    @Test("a duplicate pushed body prunes the link it came on")
    func duplicatePushPrunes() {
        var r = Self.router()
        _ = r.received(Self.a, from: 1, via: .push, isNew: true)
        #expect(r.received(Self.a, from: 2, via: .push, isNew: false) == [.prune(2)])
        #expect(!r.isEager(2) && r.isEager(1) && r.isEager(3))
        // Duplicates that we asked for (pull) or fetched by reconciliation do not prune.
        #expect(r.received(Self.a, from: 3, via: .pull, isNew: false).isEmpty)
        #expect(r.received(Self.a, from: 3, via: .reconcile, isNew: false).isEmpty)
        #expect(r.isEager(3))
    }

    @Test("pending work: queued announcements and missing ids, none once flushed and delivered")
    func pendingWork() {
        var r = Self.router()
        #expect(!r.hasPendingWork)
        r.pruned(from: 2)
        _ = r.published(Self.a)
        #expect(r.hasPendingWork, "an ihave is queued for the lazy peer")
        _ = r.tick(now: 0)
        #expect(!r.hasPendingWork)
        r.announced([Self.b], from: 3, now: 1, have: { _ in false })
        #expect(r.hasPendingWork, "an announced id is missing until its body comes")
        _ = r.received(Self.b, from: 3, via: .push, isNew: true)
        _ = r.tick(now: 1.01)
        #expect(!r.hasPendingWork)
    }

    @Test("a burst of duplicates on one link gets one prune per tree and interval, not one each")
    func duplicateBurstPrunesOnce() {
        var r = Self.router()
        let author: [UInt8] = Array(repeating: 7, count: 32)
        let ids = (0..<5).map { Fixture.objectID(UInt8(0x10 + $0)) }
        for id in ids { _ = r.received(id, from: 1, via: .push, isNew: true, tree: author, now: 100) }
        #expect(
            r.received(ids[0], from: 2, via: .push, isNew: false, tree: author, now: 100) == [.pruneTrees(2, [author])])
        for id in ids[1...] {
            #expect(r.received(id, from: 2, via: .push, isNew: false, tree: author, now: 100.2).isEmpty)
        }
        #expect(!r.isEager(2, tree: author))
        // Still duplicates a second later: the prune may have crossed a graft, so it is repeated.
        #expect(
            r.received(ids[1], from: 2, via: .push, isNew: false, tree: author, now: 101.1) == [
                .pruneTrees(2, [author])
            ])
        // A link made eager again (its body was grafted) is pruned at once by the next duplicate.
        _ = r.received(Fixture.objectID(0x30), from: 2, via: .pull, isNew: true, tree: author, now: 101.2)
        #expect(r.isEager(2, tree: author))
        #expect(
            r.received(ids[2], from: 2, via: .push, isNew: false, tree: author, now: 101.3) == [
                .pruneTrees(2, [author])
            ])
        // Another author's tree is paced on its own.
        let other: [UInt8] = Array(repeating: 8, count: 32)
        #expect(
            r.received(ids[3], from: 2, via: .push, isNew: false, tree: other, now: 101.3) == [.pruneTrees(2, [other])])
    }

    @Test("ihave, then no body within the graft timeout: graft to the announcer, which becomes eager")
    func graftAfterTimeout() {
        var r = Self.router()
        r.pruned(from: 2)
        r.announced([Self.a], from: 2, now: 10, have: { _ in false })
        #expect(r.missingCount == 1)
        #expect(r.tick(now: 10.1).isEmpty)
        #expect(r.tick(now: 10.2) == [.graft(2, [Self.a])])
        #expect(r.isEager(2))
        // The body arrives (a pull): relayed to the others, nothing missing any more.
        #expect(r.received(Self.a, from: 2, via: .pull, isNew: true) == [.push(1, [Self.a]), .push(3, [Self.a])])
        #expect(r.missingCount == 0)
        #expect(r.tick(now: 11).isEmpty)
    }

    @Test("a body that arrives before the timeout cancels the graft")
    func noGraftWhenBodyArrives() {
        var r = Self.router()
        r.announced([Self.a], from: 2, now: 0, have: { _ in false })
        _ = r.received(Self.a, from: 1, via: .push, isNew: true)
        #expect(r.tick(now: 1).isEmpty)
        #expect(r.missingCount == 0)
    }

    @Test("ids we already hold are not tracked")
    func announcedButHeld() {
        var r = Self.router()
        r.announced([Self.a, Self.b], from: 2, now: 0, have: { $0 == Self.a })
        #expect(r.missingCount == 1)
        #expect(r.tick(now: 1) == [.graft(2, [Self.b])])
    }

    @Test("when the first announcer does not deliver, the next one is grafted")
    func graftRotation() {
        var r = Self.router()
        r.announced([Self.a], from: 2, now: 0, have: { _ in false })
        r.announced([Self.a], from: 3, now: 0.05, have: { _ in false })
        #expect(r.tick(now: 0.15) == [.graft(2, [Self.a])])
        #expect(r.tick(now: 0.4).isEmpty, "waits twice the timeout for the grafted body")
        #expect(r.tick(now: 0.46) == [.graft(3, [Self.a])])
    }

    @Test("a missing id whose announcers all left is forgotten")
    func announcerLeaves() {
        var r = Self.router()
        r.announced([Self.a], from: 2, now: 0, have: { _ in false })
        r.removePeer(2)
        #expect(r.tick(now: 1).isEmpty)
        #expect(r.missingCount == 0)
        #expect(!r.peerKeys.contains(2))
    }

    @Test("missing ids are bounded")
    func missingBounded() {
        var settings = GossipRouter.Settings()
        settings.maxMissing = 2
        var r = GossipRouter(settings: settings)
        r.addPeer(1)
        r.announced([Self.a, Self.b, Self.c], from: 1, now: 0, have: { _ in false })
        #expect(r.missingCount == 2)
    }

    @Test("a graft from a peer makes it eager and pushes the requested bodies")
    func graftedByPeer() {
        var r = Self.router()
        r.pruned(from: 2)
        #expect(r.grafted([Self.a, Self.b], from: 2) == [.push(2, [Self.a, Self.b])])
        #expect(r.isEager(2))
        // It now has them: a later relay skips it.
        #expect(r.received(Self.a, from: 1, via: .push, isNew: true) == [.push(3, [Self.a])])
        #expect(r.grafted([], from: 2).isEmpty)
        #expect(r.grafted([Self.a], from: 99).isEmpty, "unknown peer")
    }

    @Test("never sends a peer an id that peer announced, whether it is eager or lazy")
    func neverEchoAnnounced() {
        var r = Self.router(peers: [1, 2, 3, 4])
        r.pruned(from: 4)
        r.announced([Self.a], from: 2, now: 0, have: { _ in false })
        r.announced([Self.a], from: 4, now: 0, have: { _ in false })
        #expect(r.received(Self.a, from: 1, via: .push, isNew: true) == [.push(3, [Self.a])])
        #expect(r.tick(now: 0.01).isEmpty, "no ihave back to the lazy announcer 4")
        #expect(r.tick(now: 1).isEmpty, "and no graft: the body is here")
    }

    @Test("never sends a peer an id it sent us or asked us for")
    func neverEchoReceived() {
        var r = Self.router()
        _ = r.received(Self.a, from: 1, via: .push, isNew: true)
        r.markKnown([Self.b], to: 2)
        #expect(r.published(Self.b) == [.push(1, [Self.b]), .push(3, [Self.b])])
        #expect(r.published(Self.a).isEmpty)
    }

    @Test("objects fetched by reconciliation are only announced, even to eager peers")
    func reconcileFetchedOnlyAnnounced() {
        var r = Self.router()
        r.pruned(from: 3)
        #expect(r.received(Self.a, from: 1, via: .reconcile, isNew: true).isEmpty)
        #expect(r.tick(now: 0) == [.announce(2, [Self.a]), .announce(3, [Self.a])])
        #expect(r.isEager(2), "announcing does not change the link's mode")
    }

    @Test("announcements are split at the ihave limit")
    func announceChunks() {
        var r = Self.router(peers: [1])
        r.pruned(from: 1)
        let ids = (0..<(PeerMessage.Limits.maxIDs + 5)).map { i in
            ObjectID(bytes: [UInt8(i & 0xff), UInt8(i >> 8)] + [UInt8](repeating: 0, count: 30))
        }
        for id in ids { _ = r.published(id) }
        let actions = r.tick(now: 0)
        #expect(actions.count == 2)
        #expect(actions.first == .announce(1, Array(ids.prefix(PeerMessage.Limits.maxIDs))))
        #expect(actions.last == .announce(1, Array(ids.suffix(5))))
    }

    @Test("the per-peer memory of known ids is bounded (oldest forgotten first)")
    func knownBounded() {
        var set = BoundedFIFO<Int>(capacity: 3)
        for i in 0..<5 { set.append(i) }
        #expect(!set.contains(0) && !set.contains(1))
        #expect(set.contains(2) && set.contains(3) && set.contains(4))
        for i in 5..<20 { set.append(i) }
        #expect(set.contains(19) && set.contains(17) && !set.contains(16))
    }

    /// An announced id whose body arrives but does not change the store (an old version, a retracted
    /// or expired listing) must leave `missing`, or the router would graft it again forever.
    @Test("an announced body that arrives but is not new is not grafted again")
    func staleBodyStopsGrafts() {
        var r = Self.router()
        r.announced([Self.a], from: 2, now: 0, have: { _ in false })
        #expect(r.tick(now: 0.15) == [.graft(2, [Self.a])])
        _ = r.received(Self.a, from: 2, via: .pull, isNew: false)
        #expect(r.missingCount == 0)
        #expect(r.tick(now: 1).isEmpty)
    }
}
