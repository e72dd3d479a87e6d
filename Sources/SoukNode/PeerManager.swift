import Foundation
import Synchronization
public import Logging
import NIOCore
public import SoukCore
import SoukCrypto
import SoukStore
public import SoukWire

/// Owns every peer link: runs each link's state machine, routes gossip through `GossipRouter`,
/// reconciles sets on connect and periodically, keeps the address book, and bans misbehaving
/// peers. Sockets live in `PeerManager+Connections.swift`; this file is the protocol side.
public actor PeerManager {
    struct Peer {
        let key: Int
        var link: PeerLink
        let direction: PeerLink.Direction
        let remoteHost: String
        let remotePort: Int
        /// For outbound links, the address we dialled.
        let dialed: String?
        let since: Double
        let outbox: AsyncStream<[UInt8]>.Continuation
        /// Bytes queued for this peer and not yet written; bounded by `maxQueuedBytes`.
        let queued: QueueMeter
        var nodeID: NodeID?
        var listenPort: UInt16 = 0
        var userAgent = ""
        var ready = false
        var bytesIn = 0
        var bytesOut = 0
        var lastMessage = ""
        var lastMessageAt: Double = 0
        var lastUseful: Double = 0
        /// Ids we asked this peer for (graft / getObjects); their arrival is a pull, not a push.
        var requested: Set<ObjectID> = []
        var requestedShort: Set<ShortID> = []
        var reconciling = false
        /// Asked to reconcile (by `peer.reconcile`) while another reconciliation was running.
        var reconcilePending = false
        var reconcileStartedAt: Double = 0
        var reconciledAt: Double?
    }

    public nonisolated let node: MarketNode
    public nonisolated let settings: P2PSettings
    let logger: Logger
    let linkSettings: PeerLink.Settings
    var router: GossipRouter
    var peers: [Int: Peer] = [:]
    var nextKey = 1
    /// Addresses currently being dialled.
    var dialing: Set<String> = []
    /// Addresses found to be ourselves.
    var selfAddresses: Set<String> = []
    var lastDial: [String: Double] = [:]
    var dialFailures: [String: Int] = [:]
    var authorUpdates: [[UInt8]: [Double]] = [:]
    var arrivals: [ObjectID: Double] = [:]
    var arrivalOrder: [ObjectID] = []
    var stats = TrafficStats()
    var lastReconcileAt: Double = 0
    var reconciledPeers: [NodeID: Double] = [:]
    /// Bumped whenever the store gains an object, to invalidate `reconcilerCache`.
    var storeGeneration = 0
    var reconcilerCache: (at: Double, generation: Int, reconciler: Reconciler)?
    public internal(set) var boundPort: Int = 0
    var listener: NIOAsyncChannel<NIOAsyncChannel<[UInt8], ByteBuffer>, Never>?
    let dialRequests: AsyncStream<String>
    let dialContinuation: AsyncStream<String>.Continuation
    var lastMaintenance: Double = 0
    /// Whether a gossip flush is armed (`scheduleFlush`).
    var flushScheduled = false
    /// The envelopes of the latest objects stored, which the router pushes next.
    var recentEnvelopes = RecentEnvelopes(capacity: 1_024)

    public init(
        node: MarketNode, settings: P2PSettings, logger: Logger, linkSettings: PeerLink.Settings = PeerLink.Settings(),
        gossipSettings: GossipRouter.Settings = GossipRouter.Settings()
    ) {
        self.node = node
        self.settings = settings
        self.logger = logger
        self.linkSettings = linkSettings
        self.router = GossipRouter(settings: gossipSettings)
        (dialRequests, dialContinuation) = AsyncStream.makeStream(of: String.self)
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    // MARK: Link lifecycle (called by the connection tasks)

    /// Registers a new connection and returns its key and the first bytes to send.
    /// A peer whose unsent bytes exceed this is too slow to keep: it is disconnected.
    static let maxQueuedBytes = 32 * 1024 * 1024

    func register(
        direction: PeerLink.Direction, remoteHost: String, remotePort: Int, dialed: String?,
        outbox: AsyncStream<[UInt8]>.Continuation, queued: QueueMeter
    ) -> Int {
        let key = nextKey
        nextKey += 1
        let now = Self.now()
        var link = PeerLink(
            direction: direction, identity: node.identity, network: settings.network,
            listenPort: UInt16(clamping: boundPort), userAgent: settings.userAgent, now: now, settings: linkSettings)
        let first = link.start()
        peers[key] = Peer(
            key: key, link: link, direction: direction, remoteHost: remoteHost, remotePort: remotePort,
            dialed: dialed, since: now, outbox: outbox, queued: queued)
        perform(first, for: key)
        return key
    }

    /// One frame body arrived on a link.
    func received(_ body: [UInt8], from key: Int) async {
        guard var peer = peers[key] else { return }
        let now = Self.now()
        peer.bytesIn += body.count + 4
        let actions = peer.link.receive(frameBody: body, now: now)
        peers[key] = peer
        for action in actions {
            if case .deliver(let message) = action {
                peers[key]?.lastMessage = message.name
                peers[key]?.lastMessageAt = now
                stats.add(inbound: message.name, bytes: body.count + 4)
                await handle(message, from: key, now: now)
                scheduleFlush()
            } else {
                perform([action], for: key)
            }
            if peers[key] == nil { return }
        }
    }

    /// The socket closed (or the connection task ended).
    func connectionEnded(_ key: Int) {
        guard peers[key] != nil else { return }
        closePeer(key, reason: "connection closed", misbehaving: false)
    }

    /// Is this link still wanted? The connection task stops reading when not.
    func isOpen(_ key: Int) -> Bool { peers[key] != nil }

    func perform(_ actions: [PeerLink.Action], for key: Int) {
        for action in actions {
            guard peers[key] != nil else { return }
            switch action {
            case .send(let bytes):
                send(bytes, to: key)
            case .established(let id):
                established(key, id)
            case .ready(let port, let ua):
                ready(key, listenPort: port, userAgent: ua)
            case .deliver:
                break  // handled by `received`
            case .close(let reason, let misbehaving):
                closePeer(key, reason: reason, misbehaving: misbehaving)
            }
        }
    }

    func send(_ bytes: [UInt8], to key: Int) {
        guard let peer = peers[key] else { return }
        peers[key]!.bytesOut += bytes.count
        guard peer.queued.add(bytes.count) <= Self.maxQueuedBytes else {
            closePeer(key, reason: "send queue over \(Self.maxQueuedBytes) bytes (peer too slow)", misbehaving: false)
            return
        }
        if case .dropped = peer.outbox.yield(bytes) {
            closePeer(key, reason: "send queue overflow (peer too slow)", misbehaving: false)
        }
    }

    func sendMessage(_ message: PeerMessage, to key: Int) {
        guard var peer = peers[key] else { return }
        let actions = peer.link.send(message)
        peers[key] = peer
        for case .send(let bytes) in actions { stats.add(outbound: message.name, bytes: bytes.count) }
        perform(actions, for: key)
    }

    private func established(_ key: Int, _ id: NodeID) {
        peers[key]?.nodeID = id
        if isBanned(node: id) {
            closePeer(key, reason: "peer \(id) is banned", misbehaving: false)
            return
        }
        if let other = peers.values.first(where: { $0.key != key && $0.nodeID == id }) {
            // One link per node. Both ends must drop the same one: keep the link whose initiator has
            // the lower node id.
            let mine = node.identity.publicKey
            let initiator: (Peer) -> [UInt8] = { $0.direction == .outbound ? mine : id.publicKey }
            let keepNew = initiator(peers[key]!).lexicographicallyPrecedes(initiator(other))
            closePeer(keepNew ? other.key : key, reason: "duplicate connection to \(id)", misbehaving: false)
        }
    }

    private func ready(_ key: Int, listenPort: UInt16, userAgent: String) {
        guard let peer = peers[key], let id = peer.nodeID else { return }
        peers[key]!.ready = true
        peers[key]!.listenPort = listenPort
        peers[key]!.userAgent = String(userAgent.prefix(64))
        router.addPeer(key)
        logger.info(
            "peer connected",
            metadata: [
                "peer.id": "\(id)", "peer.address": "\(peer.remoteHost):\(peer.remotePort)",
                "peer.direction": "\(peer.direction.rawValue)",
            ])
        let now = UInt64(Self.now())
        if let dialed = peer.dialed, let hp = parseHostPort(dialed) {
            try? node.database.rememberAddress(host: hp.host, port: hp.port, nodeID: id.publicKey, source: "dial", seen: now)
            try? node.database.recordAttempt(hostPort: dialed, success: true, nodeID: id.publicKey, now: now)
            dialFailures[dialed] = 0
        } else if listenPort != 0 {
            try? node.database.rememberAddress(
                host: peer.remoteHost, port: Int(listenPort), nodeID: id.publicKey, source: "inbound", seen: now)
        }
        sendMessage(.getAddr, to: key)
        // One reconciliation at a time, so a node catching up fetches each missing object once.
        if peer.direction == .outbound && !peers.values.contains(where: \.reconciling) {
            startReconciliation(with: key)
        }
    }

    func closePeer(_ key: Int, reason: String, misbehaving: Bool) {
        guard var peer = peers.removeValue(forKey: key) else { return }
        _ = peer.link.close(reason, misbehaving: misbehaving)
        peer.outbox.finish()
        router.removePeer(key)
        var meta: Logger.Metadata = [
            "peer.address": "\(peer.remoteHost):\(peer.remotePort)", "reason": "\(reason)",
        ]
        if let id = peer.nodeID { meta["peer.id"] = "\(id)" }
        if misbehaving {
            logger.warning("peer misbehaved; disconnected and banned", metadata: meta)
            let until = UInt64(Self.now()) + settings.banSeconds
            if let id = peer.nodeID {
                try? node.database.ban("node:\(id.hex)", until: until, reason: reason, now: UInt64(Self.now()))
            }
            if !Self.isLoopback(peer.remoteHost) {
                try? node.database.ban("ip:\(peer.remoteHost)", until: until, reason: reason, now: UInt64(Self.now()))
            }
        } else {
            logger.info("peer disconnected", metadata: meta)
        }
        if let dialed = peer.dialed, !peer.ready {
            dialFailures[dialed, default: 0] += 1
            try? node.database.recordAttempt(hostPort: dialed, success: false, nodeID: nil, now: UInt64(Self.now()))
            if reason.contains("connected to ourselves") { selfAddresses.insert(dialed) }
        }
    }

    // MARK: Bans

    /// Loopback addresses are never banned by IP, so a local testnet keeps working; identity bans still apply.
    static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "::1" || host == "localhost" || host.hasPrefix("::ffff:127.")
    }

    func isBanned(node id: NodeID) -> Bool {
        ((try? node.database.bans(now: UInt64(Self.now()))) ?? []).contains { $0.target == "node:\(id.hex)" }
    }

    /// Automatic bans never name a loopback address, but an operator's explicit ban does apply.
    func isBanned(ip: String) -> Bool {
        return ((try? node.database.bans(now: UInt64(Self.now()))) ?? []).contains { $0.target == "ip:\(ip)" }
    }

    // MARK: Messages

    private func handle(_ message: PeerMessage, from key: Int, now: Double) async {
        switch message {
        case .objects(let envelopes):
            await receiveObjects(envelopes, from: key, now: now)
        case .ihave(let ids):
            let db = node.database
            router.announced(ids, from: key, now: now) { id in (try? db.hasObject(id)) ?? false }
        case .graft(let ids):
            let authors = ((try? node.database.envelopes(ids)) ?? []).compactMap { try? Envelope(decoding: $0.envelope).signer }
            performRouter(router.grafted(ids, from: key, trees: authors))
        case .prune:
            router.pruned(from: key)
        case .pruneTrees(let trees):
            router.pruned(from: key, trees: trees)
        case .getObjects(let shortIDs):
            let found = (try? node.database.envelopes(prefixes: shortIDs.map(\.bytes))) ?? []
            router.markKnown(found.map(\.id), to: key)
            sendObjects(found.map(\.envelope), to: key)
        case .getAddr:
            sendMessage(.addr(shareableAddresses()), to: key)
        case .addr(let addrs):
            let now = UInt64(now)
            for a in addrs.prefix(PeerMessage.Limits.maxAddresses) where a.port != 0 {
                try? node.database.rememberAddress(
                    host: a.host, port: Int(a.port), nodeID: nil, source: "addr", seen: min(a.lastSeen, now))
            }
        case .reconcile(let m):
            await reconcile(m, from: key, now: now)
        case .hello, .ping, .pong, .optional:
            break
        }
    }

    /// Verifies (on all cores) and stores a batch of envelopes in one transaction, then routes each
    /// one that changed the store. An object that fails verification gets the peer banned.
    private func receiveObjects(_ envelopes: [[UInt8]], from key: Int, now: Double) async {
        guard peers[key] != nil else { return }
        var batch: [[UInt8]] = []
        var origins: [(id: ObjectID, grafted: Bool, fetched: Bool)] = []
        for bytes in envelopes {
            let id = Envelope.id(of: bytes)
            let grafted = peers[key]!.requested.remove(id) != nil
            let fetched = peers[key]!.requestedShort.remove(ShortID(id)) != nil
            if let refusal = authorQuotaRefusal(bytes, now: now) {
                logger.debug("object dropped", metadata: ["object.id": "\(id)", "reason": "\(refusal)"])
                router.discard(id)
                continue
            }
            batch.append(bytes)
            origins.append((id, grafted, fetched))
        }
        let results: [MarketNode.IngestResult]
        do {
            results = try await node.ingestBatch(batch)
        } catch {
            for origin in origins { router.discard(origin.id) }
            logger.error("storing a peer's objects failed", metadata: ["error": "\(error)"])
            return
        }
        for (origin, result) in zip(origins, results) {
            guard peers[key] != nil else { return }
            switch result {
            case .refused(let e):
                switch e.code {
                case .expired, .fromTheFuture:
                    // Clocks differ; not the peer's fault.
                    logger.debug("object refused", metadata: ["object.id": "\(origin.id)", "reason": "\(e.message)"])
                    router.discard(origin.id)
                default:
                    stats.objectsInvalid += 1
                    closePeer(key, reason: "sent an invalid object: \(e.message)", misbehaving: true)
                    return
                }
            case .applied(let outcome, let object):
                // Objects a peer pushes while reconciling with us are old news for most peers unless
                // they are fresh; gossip pushed during reconciliation keeps its eager path.
                let via: GossipRouter.Via
                if origin.grafted {
                    via = .pull
                } else if origin.fetched || (peers[key]?.reconciling == true && object.timestamp + 60 < UInt64(now)) {
                    via = .reconcile
                } else {
                    via = .push
                }
                let isNew = outcome.changedStore
                stats.objectsReceived += 1
                if isNew {
                    stats.objectsNew += 1
                    peers[key]?.lastUseful = now
                    recordArrival(object.id, at: now)
                    recentEnvelopes.insert(object.id, object.envelope.bytes)
                    if case .updated = outcome { countAuthorUpdate(object.signer, now: now) }
                } else {
                    stats.objectsDuplicate += 1
                }
                performRouter(router.received(object.id, from: key, via: via, isNew: isNew, tree: object.signer, now: now))
            }
        }
    }

    // MARK: Gossip

    /// A locally published object: gossip it.
    public func published(_ object: VerifiedObject) {
        let id = object.id
        recentEnvelopes.insert(id, object.envelope.bytes)
        recordArrival(id, at: Self.now())
        performRouter(router.published(id, tree: node.identity.publicKey))
        scheduleFlush()
    }

    func performRouter(_ actions: [GossipRouter.Action]) {
        for action in actions {
            switch action {
            case .push(let k, let ids):
                // Bodies just received or published are pushed from memory, not read back.
                let cached = ids.compactMap { recentEnvelopes[$0] }
                if cached.count == ids.count {
                    sendObjects(cached, to: k)
                } else {
                    let found = (try? node.database.envelopes(ids)) ?? []
                    sendObjects(found.map(\.envelope), to: k)
                }
            case .announce(let k, let ids):
                sendMessage(.ihave(ids), to: k)
            case .graft(let k, let ids):
                if (peers[k]?.requested.count ?? 0) > 20_000 { peers[k]?.requested.removeAll() }
                peers[k]?.requested.formUnion(ids)
                sendMessage(.graft(ids), to: k)
            case .prune(let k):
                sendMessage(.prune, to: k)
            case .pruneTrees(let k, let trees):
                sendMessage(.pruneTrees(trees), to: k)
            }
        }
    }

    /// Sends envelopes in as few `objects` messages as the frame and count limits allow.
    func sendObjects(_ envelopes: [[UInt8]], to key: Int) {
        var batch: [[UInt8]] = []
        var size = 16
        for e in envelopes {
            if batch.count == PeerMessage.Limits.maxObjects || size + e.count + 4 > FrameCodec.maxPlaintextBytes {
                sendMessage(.objects(batch), to: key)
                batch = []
                size = 16
            }
            batch.append(e)
            size += e.count + 4
        }
        if !batch.isEmpty { sendMessage(.objects(batch), to: key) }
    }

    // MARK: Reconciliation

    func startReconciliation(with key: Int) {
        guard let peer = peers[key], peer.ready, !peer.reconciling else { return }
        peers[key]!.reconciling = true
        peers[key]!.reconcilePending = false
        peers[key]!.reconcileStartedAt = Self.now()
        let reconciler = currentReconciler()
        sendMessage(.reconcile(reconciler.initialMessage()), to: key)
    }

    private func reconcile(_ message: ReconMessage, from key: Int, now: Double) async {
        if message.isDone {
            // Only the end of a reconciliation we are in counts; a bare "done" proves nothing.
            if peers[key]?.reconciling == true { finishedReconciliation(with: key, now: now) }
            return
        }
        if peers[key]?.reconciling == false {
            // One reconciliation at a time, in either role: a second peer starting one now would
            // push us the same missing objects again. Answer "done"; anti-entropy comes back later.
            if peers.values.contains(where: { $0.key != key && $0.reconciling }) {
                sendMessage(.reconcile(ReconMessage(ranges: [ReconRange(upper: .infinity, mode: .skip)])), to: key)
                return
            }
            peers[key]?.reconcileStartedAt = now
        }
        peers[key]?.reconciling = true
        let outcome = currentReconciler().process(message)
        // Never ask twice for what another peer is already sending.
        let outstanding = peers.values.reduce(into: Set<ShortID>()) { $0.formUnion($1.requestedShort) }
        let need = outcome.need.filter { !outstanding.contains($0) }
        if !need.isEmpty {
            peers[key]?.requestedShort.formUnion(need)
            for chunk in stride(from: 0, to: need.count, by: PeerMessage.Limits.maxIDs) {
                sendMessage(.getObjects(Array(need[chunk..<min(chunk + PeerMessage.Limits.maxIDs, need.count)])), to: key)
            }
        }
        if !outcome.have.isEmpty {
            let found = (try? node.database.envelopes(outcome.have)) ?? []
            router.markKnown(found.map(\.id), to: key)
            sendObjects(found.map(\.envelope), to: key)
        }
        if let reply = outcome.reply {
            sendMessage(.reconcile(reply), to: key)
        } else {
            sendMessage(.reconcile(ReconMessage(ranges: [ReconRange(upper: .infinity, mode: .skip)])), to: key)
            finishedReconciliation(with: key, now: now)
        }
    }

    private func finishedReconciliation(with key: Int, now: Double) {
        guard let peer = peers[key] else { return }
        peers[key]!.reconciling = false
        peers[key]!.reconciledAt = now
        if let id = peer.nodeID { reconciledPeers[id] = now }
        lastReconcileAt = now
        logger.debug("reconciled with peer", metadata: ["peer.id": "\(peer.nodeID.map { "\($0)" } ?? "?")"])
        // Then reconcile with outbound peers that connected meanwhile; by now they should mostly match.
        startNextPendingReconciliation()
    }

    /// Starts the next queued reconciliation, if none is running.
    func startNextPendingReconciliation() {
        guard !peers.values.contains(where: \.reconciling) else { return }
        let next =
            peers.values.first { $0.ready && $0.reconcilePending }
            ?? peers.values.first { $0.ready && $0.direction == .outbound && $0.reconciledAt == nil }
        if let next { startReconciliation(with: next.key) }
    }

    /// The reconciler over our current items. Reading and sorting every item is the expensive part,
    /// so the result is reused until the store changes or a second passes; a peer flooding
    /// `reconcile` messages cannot make us rebuild it for each one.
    func currentReconciler() -> Reconciler {
        let now = Self.now()
        if let cached = reconcilerCache, cached.generation == storeGeneration, now - cached.at < 1 {
            return cached.reconciler
        }
        let items = ((try? node.database.reconItems(now: UInt64(now))) ?? []).map {
            ReconItem(timestamp: $0.timestamp, id: $0.id)
        }
        let reconciler = Reconciler(items: items)
        reconcilerCache = (now, storeGeneration, reconciler)
        return reconciler
    }

    // MARK: Quotas and bookkeeping

    private func authorQuotaRefusal(_ bytes: [UInt8], now: Double) -> String? {
        guard let env = try? Envelope(decoding: bytes), env.kind == .listing else { return nil }
        let recent = (authorUpdates[env.signer] ?? []).filter { $0 > now - 3600 }
        authorUpdates[env.signer] = recent
        guard recent.count >= settings.maxUpdatesPerAuthorPerHour else { return nil }
        // Only updates count; a first version is limited by the store's active-listing quota.
        if let listing = try? Listing(decoding: env.payload), listing.version > 1 {
            return "author exceeded \(settings.maxUpdatesPerAuthorPerHour) updates per hour"
        }
        return nil
    }

    private func countAuthorUpdate(_ signer: [UInt8], now: Double) {
        authorUpdates[signer, default: []].append(now)
    }

    /// Forgets authors with no update in the last hour, so the quota table stays small.
    func pruneAuthorUpdates(now: Double) {
        authorUpdates = authorUpdates.compactMapValues { times in
            let recent = times.filter { $0 > now - 3600 }
            return recent.isEmpty ? nil : recent
        }
    }

    func recordArrival(_ id: ObjectID, at time: Double) {
        storeGeneration &+= 1
        guard arrivals[id] == nil else { return }
        arrivals[id] = time
        arrivalOrder.append(id)
        if arrivalOrder.count > 200_000 {
            for old in arrivalOrder.prefix(50_000) { arrivals[old] = nil }
            arrivalOrder.removeFirst(50_000)
        }
    }

    func shareableAddresses() -> [PeerAddress] {
        let records = (try? node.database.addresses(limit: 200)) ?? []
        return records.filter { $0.lastSuccess > 0 || $0.source == "inbound" }.prefix(PeerMessage.Limits.maxAddresses)
            .compactMap { r in
                guard let port = UInt16(exactly: r.port) else { return nil }
                return PeerAddress(host: r.host, port: port, lastSeen: r.lastSeen)
            }
    }
}

/// Counts bytes queued for one peer: the actor adds, the writer task subtracts.
final class QueueMeter: Sendable {
    private let bytes = Atomic<Int>(0)

    /// Adds `n` and returns the new total.
    func add(_ n: Int) -> Int { bytes.add(n, ordering: .relaxed).newValue }
}

/// Bytes and counts by message type, for `node.stats` and the testnet measurements.
struct TrafficStats {
    var bytesIn: [String: Int] = [:]
    var bytesOut: [String: Int] = [:]
    var objectsReceived = 0
    var objectsNew = 0
    var objectsDuplicate = 0
    var objectsInvalid = 0

    mutating func add(inbound name: String, bytes: Int) { bytesIn[name, default: 0] += bytes }
    mutating func add(outbound name: String, bytes: Int) { bytesOut[name, default: 0] += bytes }
}

/// The last `capacity` envelopes by object id (oldest forgotten first).
struct RecentEnvelopes {
    let capacity: Int
    private var bytes: [ObjectID: [UInt8]] = [:]
    private var order: [ObjectID] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    subscript(id: ObjectID) -> [UInt8]? { bytes[id] }

    mutating func insert(_ id: ObjectID, _ envelope: [UInt8]) {
        guard bytes.updateValue(envelope, forKey: id) == nil else { return }
        if order.count < capacity {
            order.append(id)
        } else {
            bytes[order[head]] = nil
            order[head] = id
            head = (head + 1) % capacity
        }
    }
}
