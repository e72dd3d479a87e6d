import SoukCore
import SoukCrypto
import SoukStore
import SoukWire
import Testing

@testable import SoukNode

/// The rules that used to live inside `PeerManager`, driven without sockets, disks or clocks.
@Suite("Peer policy")
struct PolicyTests {
    static func id(_ n: UInt8) -> ObjectID { ObjectID(bytes: [UInt8](repeating: n, count: 32)) }

    /// A verified listing signed by key `n` at `time`, version `version`.
    static func listing(_ n: UInt8, time: UInt64 = NodeFixture.start, version: UInt64 = 1) throws -> VerifiedObject {
        let l = Listing(
            salt: [UInt8](repeating: n, count: 16), version: version, createdAt: time, updatedAt: time,
            expiresAt: time + 86_400, title: "Bike \(n)", description: "",
            price: Money(minorUnits: 100, currency: Currency(code: "EUR")!),
            category: "bikes", location: "", country: "", quantity: 1, condition: .good, tags: [])
        let envelope = Envelope(kind: .listing, payload: l.encoded(), signingKey: NodeFixture.key(n))
        return try VerifiedObject(envelope: envelope, now: time)
    }

    // MARK: DeferredPool

    @Test("deferred pool: released when the dependency is stored, in arrival order")
    func deferredRelease() {
        var pool = DeferredPool()
        let dep = ObjectDependency.object(Self.id(9))
        #expect(pool.add(id: Self.id(1), envelope: [1], from: 7, waitingFor: dep, now: 0) == .added)
        #expect(pool.add(id: Self.id(2), envelope: [2], from: 8, waitingFor: dep, now: 0) == .added)
        #expect(pool.add(id: Self.id(3), envelope: [3], from: 7, waitingFor: .object(Self.id(10)), now: 0) == .added)
        #expect(pool.add(id: Self.id(1), envelope: [1], from: 7, waitingFor: dep, now: 1) == .duplicate)
        #expect(pool.release([.object(Self.id(11))]).isEmpty, "an unrelated object releases nothing")
        #expect(pool.release([dep]).map(\.id) == [Self.id(1), Self.id(2)])
        #expect(pool.count == 1 && pool.count(from: 7) == 1 && pool.count(from: 8) == 0)
        #expect(pool.release([dep]).isEmpty, "each waits once")
    }

    @Test("deferred pool: per-peer bound refuses, total bound drops the oldest, entries expire")
    func deferredBounds() {
        var limits = DeferredPool.Limits()
        limits.perPeer = 2
        limits.total = 3
        limits.lifetime = 10
        var pool = DeferredPool(limits: limits)
        let dep = ObjectDependency.object(Self.id(99))
        #expect(pool.add(id: Self.id(1), envelope: [], from: 1, waitingFor: dep, now: 0) == .added)
        #expect(pool.add(id: Self.id(2), envelope: [], from: 1, waitingFor: dep, now: 1) == .added)
        #expect(pool.add(id: Self.id(3), envelope: [], from: 1, waitingFor: dep, now: 2) == .peerFull)
        #expect(!pool.contains(Self.id(3)))
        #expect(pool.add(id: Self.id(4), envelope: [], from: 2, waitingFor: dep, now: 3) == .added)
        // Full in total: the oldest (1, from peer 1) makes room.
        #expect(pool.add(id: Self.id(5), envelope: [], from: 3, waitingFor: dep, now: 4) == .added)
        #expect(!pool.contains(Self.id(1)) && pool.contains(Self.id(5)) && pool.count == 3)
        #expect(pool.count(from: 1) == 1)
        // Lifetime 10 s: added at 1, 3 and 4, so at 13 only the one from time 4 is left.
        #expect(pool.expire(now: 13).map(\.id).sorted() == [Self.id(2), Self.id(4)])
        #expect(pool.count == 1 && pool.release([dep]).map(\.id) == [Self.id(5)])
    }

    // MARK: AuthorRateLimit

    @Test("rate limit per (kind, signer): only replacements count, each kind by its own rule, the window slides")
    func rateLimit() {
        var limit = AuthorRateLimit(rules: [ObjectKind.listing.rawValue: .init(count: 2, window: 100)])
        let alice = NodeFixture.key(1).publicKey
        let bob = NodeFixture.key(2).publicKey
        for t in [0.0, 1.0] {
            #expect(limit.refusal(kind: .listing, signer: alice, version: 2, now: t) == nil)
            limit.record(kind: .listing, signer: alice, now: t)
        }
        #expect(
            limit.isAtLimit(kind: .listing, signer: alice, now: 2)
                && !limit.isAtLimit(kind: .listing, signer: bob, now: 2))
        #expect(limit.refusal(kind: .listing, signer: alice, version: 3, now: 2) != nil, "third update in the window")
        #expect(
            limit.refusal(kind: .listing, signer: alice, version: 1, now: 2) == nil, "first versions are not limited")
        #expect(
            limit.refusal(kind: .listing, signer: bob, version: 5, now: 2) == nil, "another signer has its own count")
        #expect(limit.refusal(kind: .nodeProfile, signer: alice, version: 9, now: 2) == nil, "no rule for the kind")
        #expect(!limit.isAtLimit(kind: .listing, signer: alice, now: 100.5))
        #expect(
            limit.refusal(kind: .listing, signer: alice, version: 3, now: 100.5) == nil, "the first left the window")
        limit.prune(now: 1_000)
        #expect(limit.trackedAuthors == 0)
    }

    // MARK: IngestPolicy

    @Test("ingest policy: refusals ban or drop by blame; outcomes pick relay, not-new, drop or wait")
    func ingestDecisions() throws {
        let object = try Self.listing(1)
        let now = NodeFixture.start
        for code in [ValidationError.Code.malformed, .badSignature, .invalidTitle, .invalidProfile, .invalidTimestamps]
        {
            let d = IngestPolicy.decide(.refused(ValidationError(code, "x")), origin: IngestOrigin(), now: now)
            guard case .ban = d else {
                Issue.record("\(code) should ban, got \(d)")
                continue
            }
        }
        for code in [ValidationError.Code.expired, .fromTheFuture, .unknownKind] {
            let d = IngestPolicy.decide(.refused(ValidationError(code, "x")), origin: IngestOrigin(), now: now)
            #expect(d == .drop(reason: "x"), "\(code) is nobody's fault")
        }
        #expect(IngestPolicy.decide(.applied(.inserted, object), origin: IngestOrigin(), now: now) == .relay(.push))
        #expect(
            IngestPolicy.decide(
                .applied(.updated(fromVersion: 1), object), origin: IngestOrigin(grafted: true), now: now)
                == .relay(.pull))
        #expect(
            IngestPolicy.decide(.applied(.retracted, object), origin: IngestOrigin(fetched: true), now: now)
                == .relay(.reconcile))
        #expect(IngestPolicy.decide(.applied(.duplicate, object), origin: IngestOrigin(), now: now) == .notNew(.push))
        #expect(
            IngestPolicy.decide(.applied(.stale(currentVersion: 3), object), origin: IngestOrigin(), now: now)
                == .notNew(.push))
        #expect(
            IngestPolicy.decide(.applied(.alreadyRetracted, object), origin: IngestOrigin(), now: now) == .notNew(.push)
        )
        guard
            case .drop = IngestPolicy.decide(
                .applied(.quotaExceeded(limit: 5), object), origin: IngestOrigin(), now: now)
        else {
            Issue.record("a quota refusal is dropped without blame")
            return
        }
        let dep = ObjectDependency.object(Self.id(4))
        #expect(IngestPolicy.decide(.applied(.deferred(dep), object), origin: IngestOrigin(), now: now) == .wait(dep))
        let blamed = ValidationError(.invalidTitle, "contradicts the stored trade")
        guard case .ban = IngestPolicy.decide(.applied(.rejected(blamed), object), origin: IngestOrigin(), now: now)
        else {
            Issue.record("a rejection with blame bans")
            return
        }
        let blameless = ValidationError(.expired, "late")
        #expect(
            IngestPolicy.decide(.applied(.rejected(blameless), object), origin: IngestOrigin(), now: now)
                == .drop(reason: "late"))
    }

    @Test(
        "ingest policy: pushed during a reconciliation, old objects are only announced, fresh ones keep the eager path")
    func ingestFreshness() throws {
        let now = NodeFixture.start + 1_000
        let old = try Self.listing(1, time: now - IngestPolicy.freshness - 1)
        let fresh = try Self.listing(2, time: now - IngestPolicy.freshness)
        let reconciling = IngestOrigin(peerReconciling: true)
        #expect(IngestPolicy.decide(.applied(.inserted, old), origin: reconciling, now: now) == .relay(.reconcile))
        #expect(IngestPolicy.decide(.applied(.inserted, fresh), origin: reconciling, now: now) == .relay(.push))
        #expect(IngestPolicy.decide(.applied(.inserted, old), origin: IngestOrigin(), now: now) == .relay(.push))
    }

    // MARK: ReconciliationScheduler

    @Test("scheduler: one at a time; outbound links reconcile when ready, the next follows when one finishes")
    func schedulerOneAtATime() {
        var s = ReconciliationScheduler(now: 0)
        #expect(s.linkReady(1, outbound: true, now: 0) == 1)
        #expect(s.linkReady(2, outbound: true, now: 0) == nil, "1 is running")
        #expect(s.linkReady(3, outbound: false, now: 0) == nil, "inbound links wait for the peer")
        #expect(s.active == 1)
        #expect(s.received(from: 3, isDone: false, now: 1) == .answerDone, "busy in the other role")
        #expect(s.received(from: 1, isDone: false, now: 1) == .process)
        #expect(s.finished(1, now: 2) == 2, "the outbound peer not yet reconciled follows")
        #expect(s.reconciledAt(1) == 2)
        #expect(s.finished(2, now: 3) == nil, "inbound 3 is not started by us")
        #expect(s.active == nil)
        #expect(s.received(from: 3, isDone: false, now: 4) == .process, "an idle node accepts the peer's round")
        #expect(s.isReconciling(3))
        #expect(s.received(from: 3, isDone: true, now: 5) == .finished)
    }

    @Test("scheduler: a bare done counts for nothing; requests queue; timeouts free the slot; periodic picks")
    func schedulerRules() throws {
        var settings = ReconciliationScheduler.Settings()
        settings.interval = 30
        settings.timeout = 60
        var s = ReconciliationScheduler(settings: settings, now: 0)
        var random = SplitMix64(seed: 1)
        _ = s.linkReady(1, outbound: false, now: 0)
        _ = s.linkReady(2, outbound: false, now: 0)
        #expect(s.received(from: 1, isDone: true, now: 1) == .ignore, "a bare done proves nothing")
        #expect(s.received(from: 9, isDone: false, now: 1) == .ignore, "unknown link")
        #expect(s.tick(now: 10, random: &random) == nil, "the interval has not passed")
        let periodic = try #require(s.tick(now: 31, random: &random))
        #expect([1, 2].contains(periodic) && s.active == periodic)
        #expect(s.tick(now: 32, random: &random) == nil, "one at a time")
        let other = periodic == 1 ? 2 : 1
        #expect(s.request([other], now: 32) == nil, "one is running; the other is queued")
        // The running one never answers: after the timeout the slot is free and the queued one starts.
        #expect(s.tick(now: 31 + 61, random: &random) == other)
        #expect(s.active == other && !s.isReconciling(periodic))
        #expect(s.finished(other, now: 93) == nil, "nothing else is queued")
    }

    @Test("scheduler: a closed link frees the slot for the next queued peer")
    func schedulerLinkClosed() {
        var s = ReconciliationScheduler(now: 0)
        #expect(s.linkReady(1, outbound: true, now: 0) == 1)
        _ = s.linkReady(2, outbound: true, now: 0)
        #expect(s.linkClosed(1, now: 1) == 2)
        #expect(s.linkClosed(7, now: 1) == nil)
    }

    // MARK: ConnectionPolicy

    @Test("duplicate links: both ends keep the link whose initiator has the lower id")
    func duplicateLinks() {
        let low = [UInt8](repeating: 1, count: 32)
        let high = [UInt8](repeating: 2, count: 32)
        #expect(ConnectionPolicy.keepNewLink(newInitiator: low, existingInitiator: high))
        #expect(!ConnectionPolicy.keepNewLink(newInitiator: high, existingInitiator: low))
        #expect(
            !ConnectionPolicy.keepNewLink(newInitiator: low, existingInitiator: low), "same initiator: keep the older")
    }

    @Test("eviction protects the old and the useful, then evicts the newest of the most crowded group")
    func eviction() {
        typealias P = ConnectionPolicy.InboundPeer
        var peers = (0..<8).map { P(key: $0, host: "10.0.\($0).1", since: Double($0), lastUseful: 0) }
        // 4 oldest (0-3) protected; 4 most useful: give 4...7 usefulness, so all 8 are protected.
        for i in 4..<8 { peers[i].lastUseful = Double(100 + i) }
        #expect(ConnectionPolicy.evictionCandidate(peers) == nil, "everyone protected")
        // Add three from one /16 and one elsewhere: the newest of the crowded group goes.
        peers += [
            P(key: 20, host: "192.168.1.1", since: 20, lastUseful: 0),
            P(key: 21, host: "192.168.2.1", since: 21, lastUseful: 0),
            P(key: 22, host: "192.168.3.1", since: 22, lastUseful: 0),
            P(key: 23, host: "172.16.0.1", since: 23, lastUseful: 0),
        ]
        #expect(ConnectionPolicy.evictionCandidate(peers) == 22)
        // Several groups of one each: refuse the newcomer instead.
        let spread =
            peers.filter { $0.key < 20 } + [
                P(key: 30, host: "192.168.1.1", since: 30, lastUseful: 0),
                P(key: 31, host: "172.16.0.1", since: 31, lastUseful: 0),
            ]
        #expect(ConnectionPolicy.evictionCandidate(spread) == nil)
        #expect(ConnectionPolicy.netGroup("2001:db8:1:2::1") == "2001:db8")
        #expect(ConnectionPolicy.netGroup("203.0.113.9") == "203.0")
    }

    @Test("dial candidates: configured first, skips, backoff after failures, at most the free slots")
    func dialCandidates() {
        typealias S = ConnectionPolicy.DialState
        let state: [String: S] = [
            "a:1": S(lastDial: 100, failures: 3),  // backoff 8 s
            "b:1": S(lastDial: 100, failures: 0),  // backoff 1 s
            "c:1": S(lastDial: 90, failures: 20),  // capped at 300 s
        ]
        let pick = { (now: Double, slots: Int) in
            ConnectionPolicy.dialCandidates(
                configured: ["a:1", "b:1"], known: ["c:1", "b:1", "d:1", "self:1"], slots: slots,
                skip: { $0 == "self:1" }, state: state, now: now)
        }
        #expect(pick(100.5, 8) == ["d:1"])
        #expect(pick(101, 8) == ["b:1", "d:1"])
        #expect(pick(108, 8) == ["a:1", "b:1", "d:1"])
        #expect(pick(108, 2) == ["a:1", "b:1"])
        #expect(pick(390, 8) == ["a:1", "b:1", "c:1", "d:1"])
        #expect(ConnectionPolicy.backoff(failures: 0) == 1 && ConnectionPolicy.backoff(failures: 12) == 300)
    }
}
