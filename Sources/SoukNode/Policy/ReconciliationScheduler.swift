/// When the node reconciles and with whom (`Specs/wire.md` §8.4), as a value: the peer manager
/// reports link and message events and starts the reconciliation this returns.
///
/// Rules: one reconciliation at a time in either role, so a node catching up fetches each missing
/// object once; an outbound link reconciles when it becomes ready; when one finishes, the next
/// queued (`peer.reconcile`) or not-yet-reconciled outbound peer follows; every `interval` seconds
/// one random ready peer is reconciled with (anti-entropy); one unfinished after `timeout` seconds
/// is abandoned; a bare "done" from a peer we are not reconciling with counts for nothing.
public struct ReconciliationScheduler: Sendable {
    public struct Settings: Sendable, Equatable {
        public var interval: Double = 30
        public var timeout: Double = 60
        public init() {}
    }

    struct Peer: Sendable {
        var outbound: Bool
        var reconciling = false
        var pending = false
        var startedAt: Double = 0
        var reconciledAt: Double?
    }

    /// What to do with a received `reconcile` round.
    public enum RoundDecision: Sendable, Equatable {
        /// Process it (this peer's reconciliation is, or now becomes, the one running).
        case process
        /// Another reconciliation is running: answer "done" at once; the peer retries later.
        case answerDone
        /// A "done" ending our reconciliation with this peer.
        case finished
        /// A "done" outside any reconciliation: ignore it.
        case ignore
    }

    public let settings: Settings
    private var peers: [Int: Peer] = [:]
    private var lastPeriodic: Double

    public init(settings: Settings = Settings(), now: Double) {
        self.settings = settings
        lastPeriodic = now
    }

    /// The peer being reconciled with, if any.
    public var active: Int? { peers.first { $0.value.reconciling }?.key }
    public func isReconciling(_ peer: Int) -> Bool { peers[peer]?.reconciling ?? false }
    public func reconciledAt(_ peer: Int) -> Double? { peers[peer]?.reconciledAt }

    /// A link became ready. - Returns: the peer to start reconciling with now, if any.
    public mutating func linkReady(_ peer: Int, outbound: Bool, now: Double) -> Int? {
        peers[peer] = Peer(outbound: outbound)
        return outbound && active == nil ? start(peer, now: now) : nil
    }

    /// A link closed. - Returns: the next reconciliation to start, if that one was running.
    public mutating func linkClosed(_ peer: Int, now: Double) -> Int? {
        guard let p = peers.removeValue(forKey: peer) else { return nil }
        return p.reconciling ? next(now: now) : nil
    }

    /// `peer.reconcile`: queue one with each of these peers. - Returns: the one to start now, if any.
    public mutating func request(_ keys: [Int], now: Double) -> Int? {
        for k in keys where peers[k] != nil { peers[k]!.pending = true }
        return active == nil ? next(now: now) : nil
    }

    /// A `reconcile` round arrived from `peer`.
    public mutating func received(from peer: Int, isDone: Bool, now: Double) -> RoundDecision {
        guard peers[peer] != nil else { return .ignore }
        if isDone { return peers[peer]!.reconciling ? .finished : .ignore }
        if peers[peer]!.reconciling { return .process }
        if active != nil { return .answerDone }
        peers[peer]!.reconciling = true
        peers[peer]!.startedAt = now
        return .process
    }

    /// The reconciliation with `peer` ended (we sent or received "done").
    /// - Returns: the next one to start, if any.
    public mutating func finished(_ peer: Int, now: Double) -> Int? {
        guard peers[peer]?.reconciling == true else { return nil }
        peers[peer]!.reconciling = false
        peers[peer]!.reconciledAt = now
        lastPeriodic = now
        return next(now: now)
    }

    /// Once a second. - Returns: the peer to start reconciling with (after a timeout, or periodic).
    public mutating func tick(now: Double, random: inout some RandomNumberGenerator) -> Int? {
        if let a = active, now - peers[a]!.startedAt > settings.timeout {
            // A peer that stops answering mid-reconciliation must not block the others.
            peers[a]!.reconciling = false
        }
        guard active == nil else { return nil }
        if let queued = next(now: now) { return queued }
        guard now - lastPeriodic >= settings.interval, let pick = peers.keys.sorted().randomElement(using: &random)
        else { return nil }
        lastPeriodic = now
        return start(pick, now: now)
    }

    private mutating func next(now: Double) -> Int? {
        guard active == nil else { return nil }
        let order = peers.keys.sorted()
        let pick =
            order.first { peers[$0]!.pending } ?? order.first { peers[$0]!.outbound && peers[$0]!.reconciledAt == nil }
        return pick.flatMap { start($0, now: now) }
    }

    private mutating func start(_ peer: Int, now: Double) -> Int? {
        guard peers[peer] != nil, active == nil else { return nil }
        peers[peer]!.reconciling = true
        peers[peer]!.pending = false
        peers[peer]!.startedAt = now
        return peer
    }
}
