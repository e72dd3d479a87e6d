public import SoukCore
import SoukStore
public import SoukWire

/// What the node does with one object a peer sent, after verification and the store: the ban
/// policy of `Specs/wire.md` §10 in one pure function.
public enum IngestDecision: Sendable, Equatable {
    /// It changed the store: relay it (by this gossip path) and count the peer as useful.
    case relay(GossipRouter.Via)
    /// Valid but nothing new (duplicate, stale, retracted): a pushed one prunes the link.
    case notNew(GossipRouter.Via)
    /// Dropped without blame: clocks differ, a kind we do not know, over a quota.
    case drop(reason: String)
    /// Keep it until this is stored; the sender is not to blame.
    case wait(ObjectDependency)
    /// The sender broke a rule: close the link and ban it.
    case ban(reason: String)
}

/// How an object reached us, which decides its gossip path.
public struct IngestOrigin: Sendable, Equatable {
    /// We asked for it by id with `graft`.
    public var grafted = false
    /// We asked for it by short id after reconciling.
    public var fetched = false
    /// The peer is reconciling with us right now.
    public var peerReconciling = false

    public init(grafted: Bool = false, fetched: Bool = false, peerReconciling: Bool = false) {
        self.grafted = grafted
        self.fetched = fetched
        self.peerReconciling = peerReconciling
    }
}

public enum IngestPolicy {
    /// An object more than this much older than our clock, pushed while reconciling, is old news.
    public static let freshness: UInt64 = 60

    /// Decides what to do with one ingested object.
    /// - Parameters:
    ///   - result: the verification and store outcome.
    ///   - origin: how it arrived.
    ///   - now: our clock, Unix seconds.
    public static func decide(_ result: MarketNode.IngestResult, origin: IngestOrigin, now: UInt64) -> IngestDecision {
        switch result {
        case .refused(let e):
            return e.misbehaving ? .ban(reason: "sent an invalid object: \(e.message)") : .drop(reason: e.message)
        case .applied(let outcome, let object):
            let via: GossipRouter.Via
            if origin.grafted {
                via = .pull
            } else if origin.fetched || (origin.peerReconciling && object.timestamp + freshness < now) {
                via = .reconcile
            } else {
                via = .push
            }
            switch outcome {
            case .inserted, .updated, .retracted: return .relay(via)
            case .duplicate, .stale, .alreadyRetracted: return .notNew(via)
            case .quotaExceeded(let limit): return .drop(reason: "author holds \(limit) \(object.kind) objects already")
            case .rejected(let e):
                return e.misbehaving
                    ? .ban(reason: "sent an object that breaks a rule: \(e.message)") : .drop(reason: e.message)
            case .deferred(let dependency): return .wait(dependency)
            }
        }
    }
}
