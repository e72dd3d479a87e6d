import SoukCore
import Testing

@testable import SoukWire

/// One gossip tree per author: pruning a link for one author's objects leaves it eager for others.
@Suite("GossipRouter: a tree per author")
struct GossipTreeTests {
    static let a = Fixture.objectID(0x01)
    static let b = Fixture.objectID(0x41)
    static let c = Fixture.objectID(0x81)
    static let alice = [UInt8](repeating: 0xa1, count: 32)
    static let bob = [UInt8](repeating: 0xb0, count: 32)

    static func router(peers: [Int] = [1, 2, 3]) -> GossipRouter {
        var r = GossipRouter()
        for k in peers { r.addPeer(k) }
        return r
    }

    @Test("a duplicate of one author's object prunes only that author's tree on the link")
    func duplicatePrunesOneTree() {
        var r = Self.router()
        _ = r.received(Self.a, from: 1, via: .push, isNew: true, tree: Self.alice)
        #expect(
            r.received(Self.a, from: 2, via: .push, isNew: false, tree: Self.alice) == [.pruneTrees(2, [Self.alice])])
        #expect(!r.isEager(2, tree: Self.alice))
        #expect(r.isEager(2, tree: Self.bob) && r.isEager(2), "other authors and the default stay eager")
        // Bob's objects still go to 2 eagerly; Alice's are only announced to it.
        #expect(
            r.received(Self.b, from: 1, via: .push, isNew: true, tree: Self.bob) == [
                .push(2, [Self.b]), .push(3, [Self.b]),
            ])
        #expect(r.received(Self.c, from: 1, via: .push, isNew: true, tree: Self.alice) == [.push(3, [Self.c])])
        #expect(r.tick(now: 0) == [.announce(2, [Self.c])])
    }

    @Test("prune-trees from a peer makes only those trees lazy; prune makes every tree lazy")
    func prunesReceived() {
        var r = Self.router()
        r.pruned(from: 2, trees: [Self.alice])
        #expect(r.published(Self.a, tree: Self.alice) == [.push(1, [Self.a]), .push(3, [Self.a])])
        #expect(r.published(Self.b, tree: Self.bob) == [.push(1, [Self.b]), .push(2, [Self.b]), .push(3, [Self.b])])
        r.pruned(from: 3)
        #expect(!r.isEager(3, tree: Self.alice) && !r.isEager(3, tree: Self.bob) && !r.isEager(3))
    }

    @Test("a graft for an author's objects makes that tree eager again")
    func graftRestoresTree() {
        var r = Self.router()
        r.pruned(from: 2, trees: [Self.alice])
        #expect(r.grafted([Self.a], from: 2, trees: [Self.alice]) == [.push(2, [Self.a])])
        #expect(r.isEager(2, tree: Self.alice))
    }

    @Test("a body we grafted makes its sender our parent in that author's tree")
    func grafteeBecomesParent() {
        var r = Self.router()
        r.pruned(from: 2, trees: [Self.alice])
        r.announced([Self.a], from: 2, now: 0) { _ in false }
        #expect(r.tick(now: 0.2) == [.graft(2, [Self.a])])
        _ = r.received(Self.a, from: 2, via: .pull, isNew: true, tree: Self.alice)
        #expect(r.isEager(2, tree: Self.alice))
    }

    @Test("a duplicate on a node's only link does not prune it")
    func onlyLinkIsNeverPruned() {
        var r = Self.router(peers: [1])
        _ = r.received(Self.a, from: 1, via: .push, isNew: true, tree: Self.alice)
        #expect(r.received(Self.a, from: 1, via: .push, isNew: false, tree: Self.alice).isEmpty)
        #expect(r.isEager(1, tree: Self.alice))
    }

    @Test("the number of per-author modes per link is bounded")
    func boundedTrees() {
        var settings = GossipRouter.Settings()
        settings.maxTreesPerPeer = 4
        var r = GossipRouter(settings: settings)
        r.addPeer(1)
        for i in 0..<5 { r.pruned(from: 1, trees: [[UInt8](repeating: UInt8(i + 1), count: 32)]) }
        // The fifth override reset the table: the first author is back to the link's default (eager).
        #expect(r.isEager(1, tree: [UInt8](repeating: 1, count: 32)))
        #expect(!r.isEager(1, tree: [UInt8](repeating: 5, count: 32)))
    }
}
