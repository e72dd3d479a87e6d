import Foundation

/// A viewer's personal, Sybil-resistant reputation scores (`Specs/reputation.md` §5): trust flows
/// from the viewer along trade edges (a settled trade whose review was not negative; weight
/// ln(1 + trades) per pair, so wash trades count once, logarithmically) and vouches (weight 1), by
/// personalized PageRank with restart to the viewer. A seller's displayed rating averages the
/// reviews about it, each weighted by the trust the viewer gives its author.
///
/// The bound: for any set S of identities without the viewer, trust(S) ≤ (1 − α)/α · L, where L is
/// the trust flowing into S along edges from outside; fakes trading among themselves add nothing to
/// L, so a ring's trust does not grow with its size (α = 0.3: 2.33 · L).
public struct TrustGraph: Sendable {
    /// Out-edges with weights, per identity.
    public private(set) var edges: [NodeID: [NodeID: Double]] = [:]

    public init() {}

    /// A review of `subject` by `author` rated `rating`: an edge when not negative (≥ 3).
    /// Called once per trade; the pair's weight is ln(1 + trades).
    public mutating func addTrade(from author: NodeID, to subject: NodeID, rating: Int, tradeCount: Int) {
        guard rating >= TrustScore.positiveRating, author != subject else { return }
        edges[author, default: [:]][subject, default: 0] += log(1 + Double(tradeCount))
    }

    /// An explicit vouch (weight 1, added to any trade edge).
    public mutating func addVouch(from author: NodeID, to subject: NodeID) {
        guard author != subject else { return }
        edges[author, default: [:]][subject, default: 0] += 1
    }

    /// Builds the graph from valid reviews and standing vouches: per (author, subject) pair, the
    /// number of distinct trades it reviewed not negatively.
    public static func build(
        reviews: [(author: NodeID, subject: NodeID, rating: Int)], vouches: [(author: NodeID, subject: NodeID)]
    ) -> TrustGraph {
        var counts: [NodeID: [NodeID: Int]] = [:]
        for r in reviews where r.rating >= TrustScore.positiveRating && r.author != r.subject {
            counts[r.author, default: [:]][r.subject, default: 0] += 1
        }
        var g = TrustGraph()
        for (a, subjects) in counts { for (s, n) in subjects { g.addTrade(from: a, to: s, rating: 5, tradeCount: n) } }
        for v in vouches { g.addVouch(from: v.author, to: v.subject) }
        return g
    }

    public var edgeCount: Int { edges.values.reduce(0) { $0 + $1.count } }
}

public enum TrustScore {
    /// Reviews rated at least this are trust edges.
    public static let positiveRating = 3
    /// Restart probability: the share of trust that returns to the viewer at each step.
    public static let alpha = 0.3
    /// Power-iteration steps.
    public static let iterations = 30
    /// Confidence = W / (W + halfConfidence), W the total trust behind the reviews counted.
    public static let halfConfidence = 0.05

    /// Trust from `viewer` to every identity it reaches (personalized PageRank with restart;
    /// mass at identities without out-edges returns to the viewer). Identities are numbered in
    /// key order and edges kept as arrays, so one viewer over a million edges is K · |E|
    /// multiply-adds, in a deterministic order.
    public static func trust(viewer: NodeID, graph: TrustGraph) -> [NodeID: Double] {
        var nodes = Set(graph.edges.keys)
        for out in graph.edges.values { nodes.formUnion(out.keys) }
        nodes.insert(viewer)
        let ordered = nodes.sorted { $0.publicKey.lexicographicallyPrecedes($1.publicKey) }
        var index: [NodeID: Int] = [:]
        index.reserveCapacity(ordered.count)
        for (i, n) in ordered.enumerated() { index[n] = i }
        // Compressed rows: for node u, targets[start[u]..<start[u+1]] with probabilities.
        var start = [Int](repeating: 0, count: ordered.count + 1)
        var targets: [Int] = []
        var probabilities: [Double] = []
        for (u, n) in ordered.enumerated() {
            start[u] = targets.count
            guard let out = graph.edges[n] else { continue }
            let total = out.values.reduce(0, +)
            guard total > 0 else { continue }
            for (v, w) in out.sorted(by: { $0.key.publicKey.lexicographicallyPrecedes($1.key.publicKey) }) {
                targets.append(index[v]!)
                probabilities.append(w / total)
            }
        }
        start[ordered.count] = targets.count
        let v = index[viewer]!
        var t = [Double](repeating: 0, count: ordered.count)
        t[v] = 1
        var next = t
        for _ in 0..<iterations {
            for i in next.indices { next[i] = 0 }
            next[v] = alpha
            var dangling = 0.0
            for u in 0..<ordered.count where t[u] != 0 {
                let (lo, hi) = (start[u], start[u + 1])
                guard lo < hi else {
                    dangling += t[u]
                    continue
                }
                let share = (1 - alpha) * t[u]
                for k in lo..<hi { next[targets[k]] += share * probabilities[k] }
            }
            next[v] += (1 - alpha) * dangling
            swap(&t, &next)
        }
        var out: [NodeID: Double] = [:]
        for (i, x) in t.enumerated() where x != 0 { out[ordered[i]] = x }
        return out
    }

    /// One review as it counts for a viewer.
    public struct Counted: Sendable, Equatable {
        /// The author's first review of the subject (by id).
        public let entryID: ObjectID
        public let author: NodeID
        /// The mean of the author's ratings of the subject.
        public let rating: Double
        /// How many reviews of the subject by this author the mean covers.
        public let reviews: Int
        /// The trust the viewer gives the author.
        public let trust: Double
    }

    /// A subject's score as one viewer sees it, with the reviews behind it.
    public struct Score: Sendable, Equatable {
        /// The trust-weighted mean rating; `nil` with no reviews or no trust path from the viewer.
        public let value: Double?
        /// 0 (nothing trusted behind it) … → 1.
        public let confidence: Double
        /// Trade-backed reviews about the subject held here, trusted or not.
        public let reviewCount: Int
        public let counted: [Counted]
        /// "no reviews", "no trust path from you", or nil when there is a value.
        public let label: String?

        /// Recomputes the value from the explanation alone (what a person can check by hand).
        public static func recompute(_ counted: [Counted]) -> Double? {
            let w: Double = counted.reduce(0.0) { $0 + $1.trust }
            guard w > 0 else { return nil }
            let sum: Double = counted.reduce(0.0) { $0 + $1.trust * $1.rating }
            return sum / w
        }
    }

    /// The score of reviews weighted by the viewer's trust in their authors. Each author counts
    /// once, with the mean of its ratings of the subject: many trades (or fake ones) between the
    /// same two keys do not multiply one author's weight.
    public static func score(reviews: [(entryID: ObjectID, author: NodeID, rating: Int)], trust: [NodeID: Double])
        -> Score
    {
        guard !reviews.isEmpty else {
            return Score(value: nil, confidence: 0, reviewCount: 0, counted: [], label: "no reviews")
        }
        var byAuthor: [NodeID: (ids: [ObjectID], sum: Int)] = [:]
        for r in reviews {
            byAuthor[r.author, default: ([], 0)].ids.append(r.entryID)
            byAuthor[r.author, default: ([], 0)].sum += r.rating
        }
        var counted: [Counted] = []
        for (author, a) in byAuthor {
            let t: Double = trust[author] ?? 0
            guard t > 0 else { continue }
            counted.append(
                Counted(
                    entryID: a.ids.min()!, author: author, rating: Double(a.sum) / Double(a.ids.count),
                    reviews: a.ids.count, trust: t))
        }
        counted.sort { (a: Counted, b: Counted) -> Bool in
            a.trust != b.trust ? a.trust > b.trust : a.entryID < b.entryID
        }
        let w: Double = counted.reduce(0.0) { $0 + $1.trust }
        guard let value = Score.recompute(counted) else {
            return Score(
                value: nil, confidence: 0, reviewCount: reviews.count, counted: [], label: "no trust path from you")
        }
        return Score(
            value: value, confidence: w / (w + halfConfidence), reviewCount: reviews.count, counted: counted, label: nil
        )
    }

    /// The strongest trust path from the viewer to `target` (most probable walk, up to 6 hops):
    /// why the viewer trusts it, for `explain`.
    public static func path(from viewer: NodeID, to target: NodeID, graph: TrustGraph, maxHops: Int = 6) -> [NodeID]? {
        if viewer == target { return [viewer] }
        var best: [NodeID: (p: Double, via: NodeID?)] = [viewer: (1, nil)]
        var frontier: [NodeID] = [viewer]
        for _ in 0..<maxHops {
            var next: [NodeID] = []
            for u in frontier {
                let out = graph.edges[u] ?? [:]
                let total = out.values.reduce(0, +)
                guard total > 0 else { continue }
                for (v, w) in out {
                    let p = best[u]!.p * w / total
                    if p > (best[v]?.p ?? 0) {
                        best[v] = (p, u)
                        next.append(v)
                    }
                }
            }
            frontier = next
        }
        guard best[target] != nil else { return nil }
        var path: [NodeID] = [target]
        while let via = best[path.last!]?.via { path.append(via) }
        return path.reversed()
    }
}
