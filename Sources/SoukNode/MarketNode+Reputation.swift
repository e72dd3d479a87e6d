import Logging
public import SoukCore
import SoukCrypto
public import SoukStore

/// What `reputation.get` returns: a subject's score from this node's position, with the reviews
/// that count and the trust paths behind them.
public struct Reputation: Sendable {
    public let subject: NodeID
    public let score: TrustScore.Score
    /// The trust this node gives the subject itself.
    public let subjectTrust: Double
    /// Per counted review author: the strongest trust path from this node.
    public let paths: [NodeID: [NodeID]]
    public let forked: Bool
    public let reviews: [StoredReview]
}

extension MarketNode {
    /// Appends an entry to this node's own reputation log: seq = head + 1, naming the head.
    /// - Throws: `.tradeActionRefused` while the node may not know its own latest entry yet (a
    ///   node restored from an old backup learns it from its peers first, so it never forks by
    ///   accident), or when its own log forked.
    func appendLog(_ body: LogEntry.Body) async throws -> VerifiedObject {
        guard logSynced || now() >= startedAt + Self.logSyncGrace else {
            throw NodeError.tradeActionRefused(
                "this node is still learning its own latest log entry from its peers (so it does not fork its log); try again in a few seconds"
            )
        }
        if try database.forks().contains(where: { $0.author == nodeID }) {
            throw NodeError.tradeActionRefused(
                "this node's log forked (a copy of its key signed elsewhere); it is frozen")
        }
        let head = try database.logHead(nodeID)
        var createdAt = now()
        if let head, let last = try database.log(nodeID, fromSeq: head.seq, limit: 1).first {
            createdAt = max(createdAt, last.createdAt)
        }
        let entry = LogEntry(
            network: network.rawValue, seq: (head?.seq ?? 0) + 1, prev: head?.id ?? LogEntry.genesis,
            createdAt: createdAt, body: body)
        if let why = entry.payloadError(author: nodeID) {
            throw NodeError.invalid(ValidationError(.invalidLogEntry, why))
        }
        let object = try await publishObject(entry)
        logger.info("log entry appended", metadata: ["log.seq": "\(entry.seq)", "log.type": "\(entry.body.type)"])
        return object
    }

    /// How long after start a node appends to its log without having reconciled with a peer.
    public static let logSyncGrace: UInt64 = 30

    /// Called once the node reconciled with a peer (it then holds what its peers hold of its own log).
    public func markLogSynced() { logSynced = true }

    /// Reviews the other party of a settled trade of this node (or its arbiter, after a dispute).
    public func review(
        trade tradeID: ObjectID, rating: Int, described: Int = 0, communication: Int = 0, speed: Int = 0, text: String,
        arbiter: Bool = false
    ) async throws -> VerifiedObject {
        let t = try trade(tradeID)
        guard let proof = SettlementProof.make(state: t.state, envelopes: t.envelopes) else {
            throw NodeError.tradeActionRefused(
                "trade \(tradeID) is \(t.state.phase.rawValue): only a settled trade can be reviewed")
        }
        let role = try myRole(t.state)
        guard role == .buyer || role == .seller else {
            throw NodeError.tradeActionRefused("only the buyer and the seller review a trade")
        }
        let subject: NodeID
        if arbiter {
            subject = t.state.fallbackActive ? t.state.parties.fallbackArbiter! : t.state.parties.arbiter
        } else {
            subject = role == .buyer ? t.state.parties.seller : t.state.parties.buyer
        }
        guard (1...5).contains(rating), [described, communication, speed].allSatisfy({ (0...5).contains($0) }) else {
            throw NodeError.invalid(ValidationError(.invalidLogEntry, "rating is 1 to 5, sub-ratings 0 to 5"))
        }
        if try database.reviews(author: nodeID).contains(where: { $0.tradeID == tradeID }) {
            throw NodeError.tradeActionRefused("this node already reviewed trade \(tradeID): one review per trade")
        }
        return try await appendLog(
            .review(
                LogEntry.Review(
                    subject: subject, rating: UInt8(rating), described: UInt8(described),
                    communication: UInt8(communication), speed: UInt8(speed), text: text, proof: proof)))
    }

    /// Replies to a review of this node (one reply per review).
    public func reply(to entry: ObjectID, text: String) async throws -> VerifiedObject {
        guard let review = try database.reviews(subject: nodeID).first(where: { $0.entryID == entry }) else {
            throw NodeError.tradeActionRefused("no review \(entry) of this node is held here")
        }
        guard review.replyID == nil else { throw NodeError.tradeActionRefused("this review already has your reply") }
        return try await appendLog(.reply(to: entry, text: text))
    }

    public func vouch(for subject: NodeID, note: String = "", revoke: Bool = false) async throws -> VerifiedObject {
        try await appendLog(revoke ? .revoke(subject) : .vouch(subject, note: note))
    }

    /// A subject's reputation as this node sees it (`Specs/reputation.md` §5).
    public func reputation(of subject: NodeID) throws -> Reputation {
        let (graph, trust) = try trustState()
        // A forked author's reviews count for nothing, like its trust.
        let forked = Set(try database.forks().map(\.author))
        let reviews = try database.reviews(subject: subject, limit: 100_000).filter { !forked.contains($0.author) }
        let score = TrustScore.score(
            reviews: reviews.map { ($0.entryID, $0.author, $0.rating) }, trust: trust)
        var paths: [NodeID: [NodeID]] = [:]
        for c in score.counted.prefix(20) {
            paths[c.author] = TrustScore.path(from: nodeID, to: c.author, graph: graph)
        }
        return Reputation(
            subject: subject, score: score, subjectTrust: trust[subject] ?? 0, paths: paths,
            forked: forked.contains(subject), reviews: reviews)
    }

    /// The sellers whose score, as this node sees it, is at least `rating` (those with reviews
    /// and a trust path): the `min_rating` filter of `listing.search`.
    public func sellers(scoringAtLeast rating: Double) throws -> [[UInt8]] {
        let (_, trust) = try trustState()
        let forked = Set(try database.forks().map(\.author))
        var bySubject: [NodeID: [(entryID: ObjectID, author: NodeID, rating: Int)]] = [:]
        for r in try database.trustEdges().reviews where !forked.contains(r.author) {
            bySubject[r.subject, default: []].append((r.entryID, r.author, r.rating))
        }
        return bySubject.compactMap { subject, reviews in
            guard let v = TrustScore.score(reviews: reviews, trust: trust).value, v >= rating else { return nil }
            return subject.publicKey
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The trust graph and this node's trust vector, recomputed when reviews, vouches or forks changed.
    func trustState() throws -> (TrustGraph, [NodeID: Double]) {
        let counts = try database.objectCounts()
        let version = [counts[.logEntry] ?? 0, counts[.forkProof] ?? 0]
        if let cached = trustCache, cached.version == version { return (cached.graph, cached.trust) }
        let (reviews, vouches) = try database.trustEdges()
        let graph = TrustGraph.build(reviews: reviews.map { ($0.author, $0.subject, $0.rating) }, vouches: vouches)
        let trust = TrustScore.trust(viewer: nodeID, graph: graph)
        trustCache = TrustCache(version: version, graph: graph, trust: trust)
        return (graph, trust)
    }

    /// Signs and publishes a fork proof for every conflict seen without one (two entries of one
    /// author at one seq), and warns about open trades with that author.
    @discardableResult
    public func publishForkProofs() async -> Int {
        guard let conflicts = try? database.unprovenConflicts(), !conflicts.isEmpty else { return 0 }
        var published = 0
        for c in conflicts {
            let proof = ForkProof(c.held, c.other)
            guard let fork = try? proof.check() else { continue }
            do {
                _ = try await publishObject(proof)
                published += 1
                logger.warning(
                    "a reputation log forked: its author signed two entries at one seq; it is frozen",
                    metadata: ["log.author": "\(fork.author)", "log.seq": "\(fork.seq)"])
                let open = (try? database.trades(openOnly: true, limit: 10_000)) ?? []
                for t in open where [t.buyer, t.seller, t.arbiter, t.fallbackArbiter].contains(fork.author) {
                    logger.warning(
                        "an open trade's party forked its log",
                        metadata: ["trade.id": "\(t.tradeID)", "peer.id": "\(fork.author)"])
                }
            } catch {
                logger.debug("fork proof not stored", metadata: ["error": "\(error)"])
            }
        }
        return published
    }
}

/// The trust vector of this node, valid while the counts of log entries and fork proofs stay.
struct TrustCache: Sendable {
    let version: [Int]
    let graph: TrustGraph
    let trust: [NodeID: Double]
}

extension MarketNode {
    /// How often an arbiter node publishes its rulings summary (when it changed): daily on main,
    /// every few seconds on testnet so scenarios see it.
    var rulingsInterval: UInt64 { network == .main ? 86_400 : 5 }

    /// An arbiter's public record, from the trades this node arbitrated: how many it
    /// acknowledged, how many it ruled (a settlement it signed after a dispute), how many it let
    /// lapse (the fallback arbiter took over), and the median hours from dispute to its signature.
    /// Counts and times only: no trade ids, no amounts.
    func rulingsSummary() throws -> LogEntry.Rulings {
        var acknowledged: UInt64 = 0
        var ruled: UInt64 = 0
        var lapsed: UInt64 = 0
        var hours: [UInt64] = []
        for t in try database.trades(limit: 100_000) where t.arbiter == nodeID || t.fallbackArbiter == nodeID {
            guard let state = try database.trade(t.tradeID)?.state else { continue }
            let counted = state.timeline.filter { $0.void == nil }
            if counted.contains(where: { $0.step.step.type == .arbiterAck && $0.step.author == nodeID }) {
                acknowledged += 1
            }
            if t.arbiter == nodeID, state.fallbackActive { lapsed += 1 }
            if let s = state.settlement, let disputed = state.disputedAt, s.signers.contains(nodeID) {
                ruled += 1
                if let signedAt = try database.signedResolutionTime(t.tradeID), signedAt >= disputed {
                    hours.append((signedAt - disputed) / 3600)
                }
            }
        }
        hours.sort()
        return LogEntry.Rulings(
            acknowledged: acknowledged, ruled: ruled, lapsed: lapsed,
            medianHoursToRule: hours.isEmpty ? 0 : hours[hours.count / 2])
    }

    /// As an arbiter: appends the rulings summary to this node's log when it changed since the
    /// last one and the interval passed. - Returns: whether it published.
    @discardableResult
    public func publishRulingsIfDue() async -> Bool {
        guard arbiterMode, now() >= lastRulingsAt + rulingsInterval, let summary = try? rulingsSummary(),
            summary.acknowledged > 0, summary != lastRulings
        else { return false }
        do {
            _ = try await appendLog(.rulings(summary))
            lastRulings = summary
            lastRulingsAt = now()
            return true
        } catch {
            logger.debug("rulings summary not published yet", metadata: ["error": "\(error)"])
            return false
        }
    }
}
