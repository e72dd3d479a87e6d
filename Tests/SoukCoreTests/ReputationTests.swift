import Foundation
import SoukCore
import SoukCrypto
import Testing

/// Reputation (`Specs/reputation.md`): log entries and their payload rules, fork proofs, and the
/// personal trust score with its Sybil bound, shown on generated graphs.
@Suite("reputation: log entries, fork proofs, trust")
struct ReputationTests {
    typealias F = TradeFixture

    /// A settled release of the fixture trade, as a settlement proof.
    /// `fee`: whether the arbiter was paid (it worked: a dispute); without, the arbiter did nothing.
    func proof(_ outcome: TradeResolution.Outcome = .release, arbiterSigns: Bool = false, fee: Bool = false)
        -> SettlementProof
    {
        let f = TradeFixture()
        let accept = f.envelope(f.throughFulfilment()[0], key: F.sellerKey)
        let r = TradeResolution.make(outcome, tradeID: f.tradeID, network: f.network, order: f.body, chargeFee: fee)!
        let second = arbiterSigns ? F.arbiterKey : F.sellerKey
        return SettlementProof(
            order: f.orderBytes, accept: accept, fallbackAck: nil,
            signatures: [f.resolutionEnvelope(r, F.buyerKey), f.resolutionEnvelope(r, second)])
    }

    func entry(_ body: LogEntry.Body, seq: UInt64 = 1, prev: ObjectID = LogEntry.genesis) -> LogEntry {
        LogEntry(network: "testnet", seq: seq, prev: prev, createdAt: F.t0 + 900, body: body)
    }

    @Test func entriesRoundTripAndChain() throws {
        let review = LogEntry.Review(subject: F.seller, rating: 5, described: 4, text: "Great bike", proof: proof())
        let first = entry(.review(review))
        #expect(try LogEntry(decoding: first.encoded()) == first)
        let e1 = Envelope(kind: .logEntry, payload: first.encoded(), signingKey: F.buyerKey)
        let second = entry(.vouch(F.seller, note: "my neighbour"), seq: 2, prev: e1.id)
        #expect(try LogEntry(decoding: second.encoded()) == second)
        #expect(second.provides(signer: F.buyerKey.publicKey) == [.logEntry(author: F.buyerKey.publicKey, seq: 2)])
        // Entry 1 names no predecessor; every later one does.
        #expect(throws: ValidationError.self) {
            try LogEntry(decoding: self.entry(.revoke(F.seller), seq: 2).encoded())
        }
        #expect(throws: ValidationError.self) {
            try LogEntry(decoding: self.entry(.revoke(F.seller), seq: 1, prev: e1.id).encoded())
        }
        #expect(throws: ValidationError.self) {
            try LogEntry(decoding: self.entry(.revoke(F.seller), seq: 0).encoded())
        }
    }

    @Test func aReviewRestsOnARealSettledTradeBetweenReviewerAndSubject() {
        let good = LogEntry.Review(subject: F.seller, rating: 5, text: "ok", proof: proof())
        #expect(entry(.review(good)).payloadError(author: F.buyer) == nil)
        #expect(entry(.review(good)).payloadError(author: F.seller) != nil, "the seller does not review itself")
        #expect(entry(.review(good)).payloadError(author: F.arbiter) != nil, "the arbiter is not a reviewer")
        var wrongSubject = good
        wrongSubject.subject = F.fallback
        #expect(entry(.review(wrongSubject)).payloadError(author: F.buyer) != nil)
        // The arbiter may be reviewed only when it worked on the trade.
        var ofArbiter = good
        ofArbiter.subject = F.arbiter
        #expect(entry(.review(ofArbiter)).payloadError(author: F.buyer) != nil)
        ofArbiter.proof = proof(.refund, arbiterSigns: true)
        #expect(entry(.review(ofArbiter)).payloadError(author: F.buyer) == nil)
        // A forged proof (one signature, a flipped byte) makes the payload void.
        var forged = good
        forged.proof.signatures = [forged.proof.signatures[0]]
        #expect(entry(.review(forged)).payloadError(author: F.buyer)?.contains("proof") == true)
        forged = good
        forged.proof.signatures[1][forged.proof.signatures[1].count - 1] ^= 1
        #expect(entry(.review(forged)).payloadError(author: F.buyer) != nil)
        var rated = good
        rated.rating = 6
        #expect(entry(.review(rated)).payloadError(author: F.buyer) != nil)
        // A testnet trade never backs a main-network review.
        let mainEntry = LogEntry(network: "main", seq: 1, prev: LogEntry.genesis, createdAt: F.t0, body: .review(good))
        #expect(mainEntry.payloadError(author: F.buyer) == "the trade is on another network")
        #expect(entry(.vouch(F.buyer, note: "")).payloadError(author: F.buyer) != nil, "nobody vouches for itself")
    }

    @Test func forkProofsCheckAlone() throws {
        let a = Envelope(kind: .logEntry, payload: entry(.vouch(F.seller, note: "a")).encoded(), signingKey: F.buyerKey)
        let b = Envelope(kind: .logEntry, payload: entry(.vouch(F.seller, note: "b")).encoded(), signingKey: F.buyerKey)
        let proof = ForkProof(a.bytes, b.bytes)
        let checked = try ForkProof(decoding: proof.encoded()).check()
        #expect(checked.author == F.buyer && checked.seq == 1)
        #expect(ForkProof(b.bytes, a.bytes) == proof, "one fork, one proof")
        #expect(throws: ValidationError.self) { try ForkProof(decoding: ForkProof(a.bytes, a.bytes).encoded()) }
        let other = Envelope(
            kind: .logEntry, payload: entry(.vouch(F.seller, note: "c")).encoded(), signingKey: F.sellerKey)
        #expect(throws: ValidationError.self) { try ForkProof(decoding: ForkProof(a.bytes, other.bytes).encoded()) }
        let later = Envelope(
            kind: .logEntry, payload: entry(.revoke(F.seller), seq: 2, prev: a.id).encoded(), signingKey: F.buyerKey)
        #expect(throws: ValidationError.self) { try ForkProof(decoding: ForkProof(a.bytes, later.bytes).encoded()) }
    }

    // MARK: The score

    static func key(_ n: Int) -> NodeID {
        var bytes = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: UInt64(n).bigEndian) { for (i, b) in $0.enumerated() { bytes[24 + i] = b } }
        bytes[0] = 0x42
        return NodeID(publicKey: bytes)!
    }

    /// A ring of `size` fakes trading with one another with five-star reviews, plus an honest
    /// neighbourhood around the viewer; `bridge` adds one honest edge into the ring.
    static func graph(ring size: Int, bridge: Bool) -> (TrustGraph, viewer: NodeID, honest: NodeID, ring: [NodeID]) {
        let viewer = key(0)
        let honest = (1...5).map(key)
        let seller = key(6)
        let ring = (0..<size).map { key(1_000 + $0) }
        var reviews: [(NodeID, NodeID, Int)] = []
        for h in honest {
            reviews.append((viewer, h, 5))
            reviews.append((h, seller, 4))
            reviews.append((h, viewer, 5))
        }
        for (i, r) in ring.enumerated() {
            for j in 1...3 { reviews.append((r, ring[(i + j) % size], 5)) }
        }
        if bridge { reviews.append((honest[0], ring[0], 5)) }
        return (TrustGraph.build(reviews: reviews, vouches: []), viewer, seller, ring)
    }

    @Test func aRingWithNoPathFromTheViewerGetsNoTrustAtAnySize() {
        for size in [10, 1_000] {
            let (g, viewer, _, ring) = Self.graph(ring: size, bridge: false)
            let t = TrustScore.trust(viewer: viewer, graph: g)
            #expect(ring.allSatisfy { (t[$0] ?? 0) == 0 }, "ring of \(size)")
            // Its members' five stars show no score to this viewer.
            let s = TrustScore.score(reviews: [(ObjectID(bytes: Array(repeating: 1, count: 32)), ring[1], 5)], trust: t)
            #expect(s.value == nil && s.confidence == 0 && s.label == "no trust path from you" && s.reviewCount == 1)
        }
    }

    @Test func oneHonestEdgeIntoARingGivesBoundedTrustThatDoesNotGrowWithItsSize() {
        var totals: [Int: Double] = [:]
        for size in [10, 1_000] {
            let (g, viewer, seller, ring) = Self.graph(ring: size, bridge: true)
            let t = TrustScore.trust(viewer: viewer, graph: g)
            let total = ring.reduce(0) { $0 + (t[$1] ?? 0) }
            // L: the trust flowing into the ring from outside it.
            let inflow =
                (t[Self.key(1)] ?? 0) * (g.edges[Self.key(1)]![ring[0]]! / g.edges[Self.key(1)]!.values.reduce(0, +))
            let bound = (1 - TrustScore.alpha) / TrustScore.alpha * inflow
            #expect(total <= bound + 1e-12, "ring of \(size): \(total) > \(bound)")
            totals[size] = total
            // The honest seller in the viewer's neighbourhood ranks above every ring member.
            #expect(ring.allSatisfy { (t[$0] ?? 0) < (t[seller] ?? 0) }, "ring of \(size)")
        }
        #expect(totals[1_000]! <= totals[10]! * 1.01, "\(totals)")
    }

    @Test func washTradesCountLogarithmically() {
        let a = Self.key(1)
        let b = Self.key(2)
        var once = TrustGraph()
        once.addTrade(from: a, to: b, rating: 5, tradeCount: 1)
        let hundred = TrustGraph.build(reviews: Array(repeating: (a, b, 5), count: 100), vouches: [])
        #expect(abs(once.edges[a]![b]! - log(2)) < 1e-12)
        #expect(abs(hundred.edges[a]![b]! - log(101)) < 1e-12)
        // A negative review is no edge.
        #expect(TrustGraph.build(reviews: [(a, b, 2)], vouches: []).edgeCount == 0)
    }

    @Test func theExplanationRecomputesTheScoreAndIsDeterministic() {
        let (g, viewer, seller, _) = Self.graph(ring: 10, bridge: true)
        let t = TrustScore.trust(viewer: viewer, graph: g)
        #expect(TrustScore.trust(viewer: viewer, graph: g) == t)
        let reviews = (1...5).map {
            (ObjectID(bytes: Array(repeating: UInt8($0), count: 32)), Self.key($0), 3 + $0 % 3)
        }
        let s = TrustScore.score(reviews: reviews, trust: t)
        let value = try! #require(s.value)
        #expect(abs(TrustScore.Score.recompute(s.counted)! - value) < 1e-9)
        #expect(s.confidence > 0 && s.confidence < 1 && s.counted.count == 5)
        #expect(TrustScore.score(reviews: [], trust: t).label == "no reviews")
        #expect(TrustScore.path(from: viewer, to: seller, graph: g)?.first == viewer)
        #expect(TrustScore.path(from: viewer, to: seller, graph: g)?.last == seller)
    }
}

/// The worked example of `Specs/reputation.md` §9.1, recomputed.
@Suite("reputation: the spec's worked example")
struct ReputationWorkedExampleTests {
    @Test func trustAndScoreMatchTheSpec() throws {
        let k = { (n: Int) in ReputationTests.key(n) }
        let (v, a, b, s, x) = (k(1), k(2), k(3), k(4), k(5))
        let graph = TrustGraph.build(
            reviews: [(v, a, 5), (a, s, 5), (a, s, 4), (b, s, 3), (x, s, 1)], vouches: [(v, b)])
        let t = TrustScore.trust(viewer: v, graph: graph)
        #expect(abs(t[v]! - 0.456633251970) < 1e-12)
        #expect(abs(t[a]! - 0.130850349098) < 1e-12)
        #expect(abs(t[b]! - 0.188777149743) < 1e-12)
        #expect(abs(t[s]! - 0.223739249189) < 1e-12)
        #expect(t[x] == nil, "X is not reachable from V")
        let id = { (n: UInt8) in ObjectID(bytes: [UInt8](repeating: n, count: 32)) }
        let score = TrustScore.score(
            reviews: [(id(1), a, 5), (id(2), a, 4), (id(3), b, 3), (id(4), x, 1)], trust: t)
        // A counts once with the mean of its two ratings (4.5); X has no trust from V.
        let w = t[a]! + t[b]!
        let expected = (t[a]! * 4.5 + t[b]! * 3) / w
        #expect(abs(score.value! - expected) < 1e-12)
        #expect(abs(score.confidence - w / (w + TrustScore.halfConfidence)) < 1e-12)
        #expect(score.counted.map(\.author) == [b, a] && score.counted.last?.reviews == 2 && score.reviewCount == 4)
        print("worked example: score \(score.value!), confidence \(score.confidence), W \(w)")
    }
}
