public import SoukCore

/// Who gets which object, in the manner of Plumtree (epidemic broadcast trees): bodies are pushed
/// eagerly along a spanning tree, ids are announced lazily (`ihave`) on every other link. A
/// duplicate body pushed over an eager link prunes it to lazy; an announced id whose body does not
/// arrive within `graftTimeout` is grafted (requested, and the link made eager). The tree so
/// settles to about one body per node per object at about one link delay per hop.
///
/// There is one tree per author (the signer key of the objects): each author's objects go along
/// the tree their first floods carved out from that author's node, which is close to a
/// shortest-path tree from it, instead of one shared tree that is long for most authors. Objects
/// without a known author use the link's default mode. Per link, a mode override is kept for at most
/// `maxTreesPerPeer` authors.
///
/// Pure state: the node feeds it events and performs the returned actions. It never sends a peer
/// an id that peer already sent or announced to us, or that we already sent it.
public struct GossipRouter: Sendable {
    public typealias PeerKey = Int
    /// The tree an object travels on: its author's public key; empty for "the link's default".
    public typealias TreeID = [UInt8]

    public enum Action: Sendable, Equatable {
        /// Send these bodies to the peer (`objects`).
        case push(PeerKey, [ObjectID])
        /// Announce these ids to the peer (`ihave`).
        case announce(PeerKey, [ObjectID])
        /// Ask the peer for these bodies and make the link eager (`graft`).
        case graft(PeerKey, [ObjectID])
        /// Tell the peer to stop pushing bodies to us (`prune`, every tree).
        case prune(PeerKey)
        /// Tell the peer to stop pushing bodies of these authors' trees to us (`prune-trees`).
        case pruneTrees(PeerKey, [TreeID])
    }

    /// How an object reached us: pushed by the peer, pulled by a graft, or fetched by reconciliation.
    /// Objects fetched by reconciliation are old news for most peers, so they are only announced.
    public enum Via: Sendable { case push, pull, reconcile }

    public struct Settings: Sendable {
        /// How long to wait for an announced body before grafting.
        public var graftTimeout: Double = 0.15
        /// Ids remembered per peer to avoid sending what it has.
        public var knownPerPeer: Int = 50_000
        /// Announced-but-missing ids tracked at most.
        public var maxMissing: Int = 20_000
        /// Authors with their own mode per link; beyond this the link falls back to its default.
        public var maxTreesPerPeer: Int = 4_096
        /// A link already pruned for a tree is pruned again for a further duplicate only after this
        /// long (seconds): a burst of duplicates sent before our prune arrived needs one prune, not
        /// one each, while a prune that crossed a graft on the wire is still repeated.
        public var repruneInterval: Double = 1.0
        public init() {}
    }

    struct PeerState {
        /// The mode for trees without an override (and for objects without a known author).
        var eager = true
        var trees: [TreeID: Bool] = [:]
        var known = BoundedFIFO<ObjectID>(capacity: 50_000)
        var outbox: [ObjectID] = []
        /// When we last sent this peer a prune for a tree (`[]`: the plain prune).
        var prunedAt: [TreeID: Double] = [:]

        func isEager(_ tree: TreeID) -> Bool { tree.isEmpty ? eager : trees[tree] ?? eager }

        mutating func set(_ tree: TreeID, eager value: Bool, limit: Int) {
            guard !tree.isEmpty else {
                eager = value
                return
            }
            if trees[tree] == nil && trees.count >= limit { trees.removeAll() }
            trees[tree] = value
        }
    }

    struct Missing {
        var announcers: [PeerKey]
        var deadline: Double
    }

    public let settings: Settings
    private var peers: [PeerKey: PeerState] = [:]
    private var missing: [ObjectID: Missing] = [:]

    public init(settings: Settings = Settings()) { self.settings = settings }

    public var peerKeys: [PeerKey] { Array(peers.keys) }
    /// Whether bodies of `tree` go to `k` eagerly (the link's default mode when `tree` is empty).
    public func isEager(_ k: PeerKey, tree: TreeID = []) -> Bool { peers[k]?.isEager(tree) ?? false }
    public var missingCount: Int { missing.count }
    /// Whether `tick` has something to do: queued announcements or ids waiting for their body.
    public var hasPendingWork: Bool { !missing.isEmpty || peers.values.contains { !$0.outbox.isEmpty } }

    public mutating func addPeer(_ k: PeerKey) {
        peers[k] = PeerState(known: BoundedFIFO(capacity: settings.knownPerPeer))
    }

    public mutating func removePeer(_ k: PeerKey) {
        peers[k] = nil
        for id in Array(missing.keys) {
            missing[id]!.announcers.removeAll { $0 == k }
        }
    }

    /// A new object of our own (or from RPC): push to eager peers, announce to lazy ones.
    public mutating func published(_ id: ObjectID, tree: TreeID = []) -> [Action] {
        relay(id, except: nil, tree: tree)
    }

    /// An object arrived from `k` and was verified. `isNew` is whether it changed our store;
    /// `tree` is its author; `now` (seconds) paces repeated prunes.
    public mutating func received(
        _ id: ObjectID, from k: PeerKey, via: Via, isNew: Bool, tree: TreeID = [], now: Double = 0
    ) -> [Action] {
        peers[k]?.known.append(id)
        // The body came, whether or not it was news: stop asking for it.
        missing[id] = nil
        if via == .pull {
            // We grafted it from k: k is now our parent in this author's tree.
            peers[k]?.set(tree, eager: true, limit: settings.maxTreesPerPeer)
        }
        if isNew {
            return relay(id, except: k, lazyOnly: via == .reconcile, tree: tree)
        }
        // A duplicate pushed to us: that link is redundant in this author's tree. Prune it even if
        // we already think it lazy (a prune and a graft may have crossed on the wire). A node's only
        // link is never redundant: pruning it would leave the node to ihave-and-graft for everything.
        if via == .push, peers[k] != nil, peers.count > 1 {
            if !peers[k]!.isEager(tree), let last = peers[k]!.prunedAt[tree], now - last < settings.repruneInterval,
                now >= last
            {
                return []  // our prune is on its way; these bodies were sent before it arrived
            }
            peers[k]!.set(tree, eager: false, limit: settings.maxTreesPerPeer)
            if peers[k]!.prunedAt.count >= settings.maxTreesPerPeer { peers[k]!.prunedAt.removeAll() }
            peers[k]!.prunedAt[tree] = now
            return tree.isEmpty ? [.prune(k)] : [.pruneTrees(k, [tree])]
        }
        return []
    }

    /// Forgets an announced id we decided not to fetch (refused, expired, over a quota).
    public mutating func discard(_ id: ObjectID) {
        missing[id] = nil
    }

    /// `k` announced ids; `have` says which we already hold.
    public mutating func announced(_ ids: [ObjectID], from k: PeerKey, now: Double, have: (ObjectID) -> Bool) {
        for id in ids {
            peers[k]?.known.append(id)
            if have(id) { continue }
            if missing[id] != nil {
                if !missing[id]!.announcers.contains(k) { missing[id]!.announcers.append(k) }
            } else if missing.count < settings.maxMissing {
                missing[id] = Missing(announcers: [k], deadline: now + settings.graftTimeout)
            }
        }
    }

    /// `k` asked for bodies and to be eager in their authors' trees (`trees`; none known: the
    /// link's default mode becomes eager).
    public mutating func grafted(_ ids: [ObjectID], from k: PeerKey, trees: [TreeID] = []) -> [Action] {
        guard peers[k] != nil else { return [] }
        if trees.isEmpty { peers[k]!.eager = true }
        for tree in Set(trees) { peers[k]!.set(tree, eager: true, limit: settings.maxTreesPerPeer) }
        for id in ids { peers[k]!.known.append(id) }
        return ids.isEmpty ? [] : [.push(k, ids)]
    }

    /// `k` sent `prune`: lazy for every tree.
    public mutating func pruned(from k: PeerKey) {
        peers[k]?.eager = false
        peers[k]?.trees.removeAll()
    }

    /// `k` sent `prune-trees`: lazy for these authors' trees.
    public mutating func pruned(from k: PeerKey, trees: [TreeID]) {
        for tree in trees where !tree.isEmpty { peers[k]?.set(tree, eager: false, limit: settings.maxTreesPerPeer) }
    }

    /// Marks ids as known to `k` (for example, after pushing them during reconciliation).
    public mutating func markKnown(_ ids: [ObjectID], to k: PeerKey) {
        for id in ids { peers[k]?.known.append(id) }
    }

    /// Flushes queued announcements and grafts overdue missing ids.
    public mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        for k in peers.keys.sorted() where !peers[k]!.outbox.isEmpty {
            let ids = peers[k]!.outbox
            peers[k]!.outbox = []
            for chunk in stride(from: 0, to: ids.count, by: PeerMessage.Limits.maxIDs) {
                actions.append(.announce(k, Array(ids[chunk..<min(chunk + PeerMessage.Limits.maxIDs, ids.count)])))
            }
        }
        var grafts: [PeerKey: [ObjectID]] = [:]
        for (id, m) in missing where m.deadline <= now {
            guard let k = m.announcers.first(where: { peers[$0] != nil }) else {
                missing[id] = nil
                continue
            }
            grafts[k, default: []].append(id)
            // Try the next announcer if this one does not deliver either.
            var next = m
            next.announcers.removeAll { $0 == k }
            next.announcers.append(k)
            next.deadline = now + settings.graftTimeout * 2
            missing[id] = next
        }
        for (k, ids) in grafts.sorted(by: { $0.key < $1.key }) {
            // The body's author (its tree) is known only when it arrives; `received(via: .pull)`
            // then makes the link eager for that tree. Until then the link's default turns eager.
            peers[k]!.eager = true
            for chunk in stride(from: 0, to: ids.count, by: PeerMessage.Limits.maxIDs) {
                actions.append(.graft(k, Array(ids[chunk..<min(chunk + PeerMessage.Limits.maxIDs, ids.count)])))
            }
        }
        return actions
    }

    private mutating func relay(_ id: ObjectID, except source: PeerKey?, lazyOnly: Bool = false, tree: TreeID)
        -> [Action]
    {
        var actions: [Action] = []
        for k in peers.keys.sorted() where k != source {
            guard !peers[k]!.known.contains(id) else { continue }
            peers[k]!.known.append(id)
            if peers[k]!.isEager(tree) && !lazyOnly {
                actions.append(.push(k, [id]))
            } else {
                peers[k]!.outbox.append(id)
            }
        }
        return actions
    }
}
