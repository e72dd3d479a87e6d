import Foundation
import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import SoukCore
import SoukWire
import SoukStore

extension PeerManager: Service {
    typealias PeerChannel = NIOAsyncChannel<[UInt8], ByteBuffer>

    /// Binds the P2P listener; call before `run()` to learn the port early.
    /// - Throws: NIO's bind error (for example, the port is in use).
    public func bind() async throws {
        guard listener == nil else { return }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: settings.listenHost, port: settings.listenPort) { child in
                child.eventLoop.makeCompletedFuture { try PeerManager.configure(child) }
            }
        listener = channel
        boundPort = channel.channel.localAddress?.port ?? settings.listenPort
    }

    /// Frames are cut by `FrameCodec`; the handler's buffer never grows past one maximum frame.
    nonisolated static func configure(_ channel: any Channel) throws -> PeerChannel {
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameCodec(handshakeFrames: 2), maximumBufferSize: FrameCodec.maxBodyBytes + 4))
        return try PeerChannel(wrappingChannelSynchronously: channel)
    }

    /// Accepts inbound links, dials outbound ones and ticks timers until graceful shutdown.
    public func run() async throws {
        try await bind()
        guard let listener else { return }
        await node.setPublishHandler { [weak self] object in await self?.published(object) }
        // Links reconcile when they open; periodic anti-entropy starts one interval later.
        lastReconcileAt = Self.now()
        logger.info("p2p listening", metadata: ["p2p.address": "\(settings.listenHost):\(boundPort)"])
        let dials = dialRequests
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await self.timerLoop() }
                    group.addTask {
                        await withDiscardingTaskGroup { dialGroup in
                            for await address in dials {
                                dialGroup.addTask { await self.dialAndServe(address) }
                            }
                        }
                    }
                    try await listener.executeThenClose { inbound in
                        for try await child in inbound {
                            group.addTask { await self.serve(child, direction: .inbound, dialed: nil) }
                        }
                    }
                }
            }
        } catch is CancellationError {
        } catch {
            logger.error("p2p listener failed", metadata: ["error": "\(error)"])
            throw error
        }
        closeAll(reason: "shutting down")
        logger.info("p2p stopped")
    }

    func closeAll(reason: String) {
        for key in Array(peers.keys) { closePeer(key, reason: reason, misbehaving: false) }
    }

    /// Gossip is flushed every 20 ms while there is something to flush (see `scheduleFlush`); this
    /// loop wakes only for link timers and upkeep, so an idle node does not wake 50 times a second.
    private func timerLoop() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(250))
            tick()
        }
    }

    /// Arms a flush of the gossip router 20 ms from now when it has queued announcements or
    /// missing ids and none is armed. Called after anything that may give the router work.
    func scheduleFlush() {
        guard !flushScheduled, router.hasPendingWork else { return }
        flushScheduled = true
        Task {
            try? await Task.sleep(for: .milliseconds(20))
            self.flush()
        }
    }

    func flush() {
        flushScheduled = false
        performRouter(router.tick(now: Self.now()))
        scheduleFlush()
    }

    /// Flushes gossip as a safety net; once a second runs link timers, keeps outbound links up
    /// and starts periodic anti-entropy.
    func tick() {
        let now = Self.now()
        performRouter(router.tick(now: now))
        scheduleFlush()
        guard now - lastMaintenance >= 1 else { return }
        lastMaintenance = now
        for key in Array(peers.keys) {
            guard var peer = peers[key] else { continue }
            let actions = peer.link.tick(now: now)
            peers[key] = peer
            perform(actions, for: key)
        }
        for (key, peer) in peers where peer.reconciling && now - peer.reconcileStartedAt > 60 {
            // A peer that stops answering mid-reconciliation must not block the others.
            peers[key]!.reconciling = false
        }
        maintainOutbound(now: now)
        pruneAuthorUpdates(now: now)
        if now - lastReconcileAt >= settings.reconcileInterval, !peers.values.contains(where: \.reconciling),
            let key = peers.values.filter({ $0.ready && !$0.reconciling }).randomElement()?.key
        {
            lastReconcileAt = now
            startReconciliation(with: key)
        }
    }

    private func maintainOutbound(now: Double) {
        var outbound = peers.values.filter { $0.direction == .outbound }.count + dialing.count
        guard outbound < settings.outboundTarget else { return }
        var candidates = settings.connect
        if settings.discover {
            let known = (try? node.database.addresses(limit: 500)) ?? []
            candidates += known.filter { r in
                !(r.nodeID.map { id in isBanned(node: NodeID(publicKey: id)!) } ?? false)
            }.map(\.hostPort)
        }
        for address in candidates where outbound < settings.outboundTarget {
            guard !isConnected(to: address), !dialing.contains(address), !selfAddresses.contains(address) else {
                continue
            }
            let backoff = min(300, pow(2, Double(min(dialFailures[address] ?? 0, 9))))
            if let last = lastDial[address], now - last < backoff { continue }
            requestDial(address, now: now)
            outbound += 1
        }
    }

    func requestDial(_ address: String, now: Double) {
        lastDial[address] = now
        dialing.insert(address)
        dialContinuation.yield(address)
    }

    func isConnected(to address: String) -> Bool {
        peers.values.contains { p in
            p.dialed == address || (p.listenPort != 0 && "\(p.remoteHost):\(p.listenPort)" == address)
        }
    }

    private func dialAndServe(_ address: String) async {
        guard let hp = parseHostPort(address) else {
            dialFinished(address, connected: false)
            return
        }
        let channel: PeerChannel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: hp.host, port: hp.port) { ch in
                    ch.eventLoop.makeCompletedFuture { try PeerManager.configure(ch) }
                }
        } catch {
            logger.debug("dial failed", metadata: ["peer.address": "\(address)", "error": "\(error)"])
            dialFinished(address, connected: false)
            return
        }
        await serve(channel, direction: .outbound, dialed: address)
    }

    func dialFinished(_ address: String, connected: Bool) {
        dialing.remove(address)
        if !connected {
            dialFailures[address, default: 0] += 1
            try? node.database.recordAttempt(hostPort: address, success: false, nodeID: nil, now: UInt64(Self.now()))
        }
    }

    /// Admits a new link or refuses it (banned address, inbound limit with nobody to evict).
    func admit(
        direction: PeerLink.Direction, host: String, port: Int, dialed: String?,
        outbox: AsyncStream<[UInt8]>.Continuation, queued: QueueMeter
    ) -> Int? {
        if let dialed { dialing.remove(dialed) }
        if direction == .inbound {
            if isBanned(ip: host) {
                logger.info("refused inbound link from banned address", metadata: ["peer.address": "\(host)"])
                return nil
            }
            let inbound = peers.values.filter { $0.direction == .inbound }
            if inbound.count >= settings.maxInbound {
                guard let victim = evictionCandidate(inbound) else {
                    logger.info("refused inbound link: inbound limit reached", metadata: ["peer.address": "\(host)"])
                    return nil
                }
                closePeer(victim, reason: "evicted to make room for a new inbound peer", misbehaving: false)
            }
        }
        return register(
            direction: direction, remoteHost: host, remotePort: port, dialed: dialed, outbox: outbox, queued: queued)
    }

    /// Picks an inbound peer to evict, keeping a diverse set: protects the longest-connected and
    /// the most recently useful peers and one peer per network group, then evicts the newest
    /// peer of the most crowded group.
    func evictionCandidate(_ inbound: [Peer]) -> Int? {
        var pool = inbound
        let protectedOld = Set(pool.sorted { $0.since < $1.since }.prefix(4).map(\.key))
        let protectedUseful = Set(pool.sorted { $0.lastUseful > $1.lastUseful }.prefix(4).map(\.key))
        pool.removeAll { protectedOld.contains($0.key) || protectedUseful.contains($0.key) }
        let groups = Dictionary(grouping: pool, by: { Self.netGroup($0.remoteHost) })
        guard let crowded = groups.max(by: { $0.value.count < $1.value.count })?.value, !crowded.isEmpty else {
            return nil
        }
        if groups.count > 1 && crowded.count == 1 { return nil }
        return crowded.max { $0.since < $1.since }?.key
    }

    /// The /16 of an IPv4 address, the /32 of an IPv6 one.
    static func netGroup(_ host: String) -> String {
        if host.contains(":") { return host.split(separator: ":").prefix(2).joined(separator: ":") }
        return host.split(separator: ".").prefix(2).joined(separator: ".")
    }

    private func serve(_ channel: PeerChannel, direction: PeerLink.Direction, dialed: String?) async {
        let remote = channel.channel.remoteAddress
        let host = remote?.ipAddress ?? "unknown"
        let port = remote?.port ?? 0
        do {
            try await channel.executeThenClose { inbound, outbound in
                let (stream, continuation) = AsyncStream.makeStream(
                    of: [UInt8].self, bufferingPolicy: .bufferingOldest(65_536))
                let queued = QueueMeter()
                guard let key = self.admit(
                    direction: direction, host: host, port: port, dialed: dialed, outbox: continuation, queued: queued)
                else {
                    if let dialed { self.dialFinished(dialed, connected: false) }
                    return
                }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await bytes in stream {
                            do { try await outbound.write(ByteBuffer(bytes: bytes)) } catch { break }
                            _ = queued.add(-bytes.count)
                        }
                    }
                    group.addTask {
                        do {
                            for try await frame in inbound {
                                await self.received(frame, from: key)
                                if await !self.isOpen(key) { break }
                            }
                        } catch let error as WireError {
                            await self.closePeer(key, reason: error.description, misbehaving: true)
                        } catch {
                            await self.closePeer(key, reason: "\(error)", misbehaving: false)
                        }
                    }
                    await group.next()
                    group.cancelAll()
                }
                self.connectionEnded(key)
            }
        } catch {
            logger.debug("link ended", metadata: ["peer.address": "\(host):\(port)", "error": "\(error)"])
        }
    }
}
