import Foundation
public import Logging
import NIOCore
public import SoukCore
import SoukCrypto
import SoukStore
public import SoukWire
import Synchronization

/// Owns every peer link: the I/O shell around the protocol's plain values. It runs each link's
/// state machine (`PeerLink`), routes gossip through `GossipRouter`, schedules reconciliation with
/// `ReconciliationScheduler`, judges ingested objects with `IngestPolicy`, `AuthorRateLimit` and
/// `DeferredPool`, and chooses links with `ConnectionPolicy`; it keeps the sockets, timers and
/// store calls. Files by job: this one (links), `+Ingest` (objects in), `+Gossip` (objects out),
/// `+Reconciliation`, `+Connections` (sockets, dialling), `+API` (RPC-facing).
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
        /// The object kinds both this node and the peer support (from its `hello`).
        var kinds: Set<UInt8> = []
        var features: [String] = []
        var ready = false
        var bytesIn = 0
        var bytesOut = 0
        var lastMessage = ""
        var lastMessageAt: Double = 0
        var lastUseful: Double = 0
        /// Ids we asked this peer for (graft / getObjects); their arrival is a pull, not a push.
        var requested: Set<ObjectID> = []
        var requestedShort: Set<ShortID> = []
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
    var dialState: [String: ConnectionPolicy.DialState] = [:]
    var authorRates: AuthorRateLimit
    var deferred: DeferredPool
    var scheduler: ReconciliationScheduler
    var arrivals: [ObjectID: Double] = [:]
    var arrivalOrder = BoundedFIFO<ObjectID>(capacity: 200_000)
    var stats = TrafficStats()
    var reconciledPeers: [NodeID: Double] = [:]
    var reconciliationsFinished = 0
    /// Bans in force, read from the store at most once a second (not once per dial candidate).
    var banCache: (at: Double, targets: Set<String>) = (-1, [])
    let clock: @Sendable () -> Double
    var random: SplitMix64
    public internal(set) var boundPort: Int = 0
    var listener: NIOAsyncChannel<NIOAsyncChannel<[UInt8], ByteBuffer>, Never>?
    let dialRequests: AsyncStream<String>
    let dialContinuation: AsyncStream<String>.Continuation
    var lastMaintenance: Double = 0
    /// Whether a gossip flush is armed (`scheduleFlush`).
    var flushScheduled = false
    /// `peer connect` calls waiting for their dial's outcome, by address.
    var connectWaiters: [String: [CheckedContinuation<ConnectOutcome, Never>]] = [:]
    /// Deliveries sent and relayed, for their acknowledgements.
    var deliveries = DeliveryBook()
    /// Trade upkeep and inbox processing run one at a time (`PeerManager+Trades`).
    var inboxBusy = false
    var tradeMaintenanceBusy = false
    var lastTradeMaintenance: Double = 0
    var lastMailboxPrune: UInt64 = 0
    var outboxRestored = false
    /// The envelopes of the latest objects stored, which the router pushes next.
    var recentEnvelopes = RecentEnvelopes(capacity: 1_024)

    /// - Parameters:
    ///   - clock: Unix seconds with a fraction; injectable so tests can move time.
    ///   - random: the source of every random choice (peer picks, ping nonces).
    public init(
        node: MarketNode, settings: P2PSettings, logger: Logger, linkSettings: PeerLink.Settings = PeerLink.Settings(),
        gossipSettings: GossipRouter.Settings = GossipRouter.Settings(),
        clock: @escaping @Sendable () -> Double = PeerManager.systemClock, random: SplitMix64 = .system()
    ) {
        self.node = node
        self.settings = settings
        self.logger = logger
        self.linkSettings = linkSettings
        self.router = GossipRouter(settings: gossipSettings)
        self.clock = clock
        self.random = random
        self.authorRates = AuthorRateLimit(rules: settings.authorRateRules)
        self.deferred = DeferredPool(limits: settings.deferredLimits)
        var schedule = ReconciliationScheduler.Settings()
        schedule.interval = settings.reconcileInterval
        // Links reconcile when they open; periodic anti-entropy starts one interval later.
        self.scheduler = ReconciliationScheduler(settings: schedule, now: clock())
        (dialRequests, dialContinuation) = AsyncStream.makeStream(of: String.self)
    }

    func now() -> Double { clock() }

    /// Unix seconds with a fraction, from the system clock.
    public static let systemClock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    // MARK: Link lifecycle (called by the connection tasks)

    /// A peer whose unsent bytes exceed this is too slow to keep: it is disconnected.
    static let maxQueuedBytes = 32 * 1024 * 1024

    /// Registers a new connection and sends its first bytes. - Returns: the link's key.
    func register(
        direction: PeerLink.Direction, remoteHost: String, remotePort: Int, dialed: String?,
        outbox: AsyncStream<[UInt8]>.Continuation, queued: QueueMeter
    ) -> Int {
        let key = nextKey
        nextKey += 1
        let now = now()
        var link = PeerLink(
            direction: direction, identity: node.identity, network: settings.network,
            listenPort: UInt16(clamping: boundPort), userAgent: settings.userAgent, now: now, settings: linkSettings,
            random: SplitMix64(seed: random.next()))
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
        let now = now()
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
            case .ready(let hello):
                ready(key, hello)
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
        if isBanned("node:\(id.hex)") {
            closePeer(key, reason: "peer \(id) is banned", misbehaving: false)
            return
        }
        if let other = peers.values.first(where: { $0.key != key && $0.nodeID == id }) {
            // One link per node; both ends must drop the same one.
            let mine = node.identity.publicKey
            let initiator: (Peer) -> [UInt8] = { $0.direction == .outbound ? mine : id.publicKey }
            let keepNew = ConnectionPolicy.keepNewLink(
                newInitiator: initiator(peers[key]!), existingInitiator: initiator(other))
            closePeer(keepNew ? other.key : key, reason: "duplicate connection to \(id)", misbehaving: false)
        }
    }

    private func ready(_ key: Int, _ hello: PeerMessage.Hello) {
        guard let peer = peers[key], let id = peer.nodeID else { return }
        peers[key]!.ready = true
        peers[key]!.listenPort = hello.listenPort
        peers[key]!.userAgent = String(hello.userAgent.prefix(64))
        // Send and reconcile only what both sides know (DESIGN invariant 12).
        peers[key]!.kinds = Set(hello.supportedKinds).intersection(ObjectRegistry.kinds.map { $0.rawValue })
        peers[key]!.features = hello.features
        router.addPeer(key)
        let address = HostPort(host: peer.remoteHost, port: peer.remotePort).description
        logger.info(
            "peer connected",
            metadata: [
                "peer.id": "\(id)", "peer.address": "\(address)", "peer.direction": "\(peer.direction.rawValue)",
            ])
        let now = UInt64(now())
        if let dialed = peer.dialed, let hp = HostPort(dialed) {
            try? node.database.rememberAddress(
                host: hp.host, port: hp.port, nodeID: id.publicKey, source: "dial", seen: now)
            try? node.database.recordAttempt(hostPort: dialed, success: true, nodeID: id.publicKey, now: now)
            dialState[dialed]?.failures = 0
        } else if hello.listenPort != 0 {
            try? node.database.rememberAddress(
                host: peer.remoteHost, port: Int(hello.listenPort), nodeID: id.publicKey, source: "inbound", seen: now)
        }
        sendMessage(.getAddr, to: key)
        if let dialed = peer.dialed { resolveConnect(dialed, .connected(id)) }
        Task { await self.tradePeerReady(id, key: key) }
        if let start = scheduler.linkReady(key, outbound: peer.direction == .outbound, now: Double(now)) {
            startReconciliation(with: start)
        }
    }

    func closePeer(_ key: Int, reason: String, misbehaving: Bool) {
        guard var peer = peers.removeValue(forKey: key) else { return }
        _ = peer.link.close(reason, misbehaving: misbehaving)
        peer.outbox.finish()
        router.removePeer(key)
        let now = now()
        if let next = scheduler.linkClosed(key, now: now) { startReconciliation(with: next) }
        var meta: Logger.Metadata = [
            "peer.address": "\(HostPort(host: peer.remoteHost, port: peer.remotePort))", "reason": "\(reason)",
        ]
        if let id = peer.nodeID { meta["peer.id"] = "\(id)" }
        if misbehaving {
            logger.warning("peer misbehaved; disconnected and banned", metadata: meta)
            let until = UInt64(now) + settings.banSeconds
            if let id = peer.nodeID {
                try? node.database.ban("node:\(id.hex)", until: until, reason: reason, now: UInt64(now))
            }
            // Loopback addresses are never banned by IP, so a local testnet keeps working.
            if !HostPort.isLoopback(peer.remoteHost) {
                try? node.database.ban("ip:\(peer.remoteHost)", until: until, reason: reason, now: UInt64(now))
            }
            banCache.at = -1
        } else {
            logger.info("peer disconnected", metadata: meta)
        }
        if let dialed = peer.dialed, !peer.ready {
            resolveConnect(dialed, .refused(reason))
            dialState[dialed, default: .init()].failures += 1
            try? node.database.recordAttempt(hostPort: dialed, success: false, nodeID: nil, now: UInt64(now))
            if reason.contains("connected to ourselves") { selfAddresses.insert(dialed) }
        }
    }

    // MARK: Bans

    /// Whether `target` (`node:<hex>` or `ip:<address>`) is banned. An operator's explicit ban of a
    /// loopback address applies; automatic bans never name one.
    func isBanned(_ target: String) -> Bool {
        let now = now()
        if now - banCache.at >= 1 {
            banCache = (now, Set(((try? node.database.bans(now: UInt64(now))) ?? []).map(\.target)))
        }
        return banCache.targets.contains(target)
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
            let held = (try? node.database.envelopes(ids)) ?? []
            let authors = held.compactMap { try? Envelope(decoding: $0.envelope).signer }
            performRouter(router.grafted(ids, from: key, trees: authors))
        case .prune:
            router.pruned(from: key)
        case .pruneTrees(let trees):
            router.pruned(from: key, trees: trees)
        case .getObjects(let shortIDs):
            serve((try? node.database.envelopes(prefixes: shortIDs.map(\.bytes))) ?? [], to: key)
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
        case .deliver(let d):
            await received(delivery: d, from: key, now: now)
        case .delivered(let a):
            received(ack: a, from: key, now: now)
        case .hello, .ping, .pong, .optional:
            break
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
