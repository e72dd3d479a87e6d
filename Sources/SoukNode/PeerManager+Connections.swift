import Foundation
import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import SoukCore
import SoukCrypto
import SoukStore
import SoukWire

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
        logger.info(
            "p2p listening", metadata: ["p2p.address": "\(HostPort(host: settings.listenHost, port: boundPort))"])
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
        performRouter(router.tick(now: now()))
        scheduleFlush()
    }

    /// Flushes gossip as a safety net; once a second runs link timers, keeps outbound links up,
    /// expires deferred objects and starts the reconciliation the scheduler asks for.
    func tick() {
        let now = now()
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
        maintainOutbound(now: now)
        if now - lastTradeMaintenance >= settings.tradeInterval {
            lastTradeMaintenance = now
            Task { await self.tradeMaintenance() }
        }
        authorRates.prune(now: now)
        deferred.expire(now: now)
        if let key = scheduler.tick(now: now, random: &random) { startReconciliation(with: key) }
    }

    private func maintainOutbound(now: Double) {
        let outbound = peers.values.filter { $0.direction == .outbound }.count + dialing.count
        guard outbound < settings.outboundTarget else { return }
        var known: [String] = []
        if settings.discover {
            known = ((try? node.database.addresses(limit: 500)) ?? []).filter { r in
                !(r.nodeID.map { isBanned("node:\(Hex.encode($0))") } ?? false)
            }.map(\.hostPort)
        }
        let candidates = ConnectionPolicy.dialCandidates(
            configured: settings.connect, known: known, slots: settings.outboundTarget - outbound,
            skip: { self.isConnected(to: $0) || self.dialing.contains($0) || self.selfAddresses.contains($0) },
            state: dialState, now: now)
        for address in candidates { requestDial(address, now: now) }
    }

    /// A neighbour announced itself on the local network (`LocalDiscovery`): dial it unless it is
    /// already linked or being dialled, is this node, is banned, or was dialled less than a minute
    /// ago (announcements come at most once a minute; forged ones cost one dial a minute each).
    func neighbourAnnounced(host: String, port: Int) {
        let address = HostPort(host: host, port: port).description
        let now = now()
        guard !isConnected(to: address), !dialing.contains(address), !selfAddresses.contains(address),
            !isBanned("ip:\(host)"), now - (dialState[address]?.lastDial ?? -.infinity) >= 60,
            dialState[address] != nil || dialState.count < 4_096
        else { return }
        logger.info("dialling a neighbour found on the local network", metadata: ["peer.address": "\(address)"])
        requestDial(address, now: now)
    }

    func requestDial(_ address: String, now: Double) {
        dialState[address, default: .init()].lastDial = now
        dialing.insert(address)
        dialContinuation.yield(address)
    }

    func isConnected(to address: String) -> Bool {
        peers.values.contains { p in
            p.dialed == address
                || (p.listenPort != 0 && HostPort(host: p.remoteHost, port: Int(p.listenPort)).description == address)
        }
    }

    private func dialAndServe(_ address: String) async {
        guard let hp = HostPort(address) else {
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
            dialState[address, default: .init()].failures += 1
            try? node.database.recordAttempt(hostPort: address, success: false, nodeID: nil, now: UInt64(now()))
            resolveConnect(address, .unreachable)
        }
    }

    /// Admits a new link or refuses it (banned address, inbound limit with nobody to evict).
    func admit(
        direction: PeerLink.Direction, host: String, port: Int, dialed: String?,
        outbox: AsyncStream<[UInt8]>.Continuation, queued: QueueMeter
    ) -> Int? {
        if let dialed { dialing.remove(dialed) }
        if direction == .inbound {
            if isBanned("ip:\(host)") {
                logger.info("refused inbound link from banned address", metadata: ["peer.address": "\(host)"])
                return nil
            }
            let inbound = peers.values.filter { $0.direction == .inbound }
            if inbound.count >= settings.maxInbound {
                let candidates = inbound.map {
                    ConnectionPolicy.InboundPeer(
                        key: $0.key, host: $0.remoteHost, since: $0.since, lastUseful: $0.lastUseful)
                }
                guard let victim = ConnectionPolicy.evictionCandidate(candidates) else {
                    logger.info("refused inbound link: inbound limit reached", metadata: ["peer.address": "\(host)"])
                    return nil
                }
                closePeer(victim, reason: "evicted to make room for a new inbound peer", misbehaving: false)
            }
        }
        return register(
            direction: direction, remoteHost: host, remotePort: port, dialed: dialed, outbox: outbox, queued: queued)
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
                guard
                    let key = self.admit(
                        direction: direction, host: host, port: port, dialed: dialed, outbox: continuation,
                        queued: queued)
                else {
                    if let dialed { self.dialFinished(dialed, connected: false) }
                    return
                }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await bytes in stream {
                            do {
                                try await outbound.write(ByteBuffer(bytes: bytes))
                            } catch {
                                // The peer closed. Give the reader a moment to take what it sent
                                // last (a handshake refusal says why) before the link is torn down.
                                try? await Task.sleep(for: .milliseconds(200))
                                break
                            }
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
                    // The reader ended first (the link was closed, e.g. after a handshake refusal):
                    // give the writer a moment to flush what is queued — the refusal that says
                    // why — before the channel closes. A writer that ended first ends this at once.
                    group.addTask { try? await Task.sleep(for: .milliseconds(300)) }
                    await group.next()
                    group.cancelAll()
                }
                self.connectionEnded(key)
            }
        } catch {
            logger.debug(
                "link ended", metadata: ["peer.address": "\(HostPort(host: host, port: port))", "error": "\(error)"])
        }
    }
}
