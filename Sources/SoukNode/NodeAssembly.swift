public import Logging
public import ServiceLifecycle
public import SoukCore
public import SoukCrypto
import SoukStore

/// A node put together from its configuration: the store, the market node, the peer manager with
/// its listener bound, and the background services. The daemon adds its JSON-RPC server (which
/// lives in `SoukRPC`, above this layer) and runs everything in one `ServiceGroup`; tests can
/// assemble nodes the same way.
public struct NodeAssembly: Sendable {
    public let node: MarketNode
    /// `nil` when networking is off.
    public let peers: PeerManager?
    /// The address the P2P listener is bound to, once bound.
    public let p2pAddress: HostPort?
    /// Peer manager, expiry sweeper and WAL checkpointer.
    public let services: [any Service]

    /// The peer settings a configuration gives.
    public static func p2pSettings(_ config: NodeConfig) -> P2PSettings {
        var p2p = P2PSettings(network: config.network.rawValue, listenPort: config.effectiveP2PPort)
        p2p.listenHost = config.p2pBind
        p2p.connect = config.configuredPeers
        p2p.maxInbound = config.maxInbound
        p2p.outboundTarget = config.outboundTarget
        p2p.banSeconds = UInt64(config.banSeconds)
        p2p.discover = config.discover
        p2p.mailbox = config.mailbox
        if config.network != .main { p2p.tradeInterval = 1 }
        return p2p
    }

    /// Opens the database, builds the node and binds the P2P listener.
    /// - Parameters:
    ///   - databasePath: the SQLite file (created if missing).
    ///   - networking: false runs without a P2P listener or peers.
    /// - Throws: `NodeError.io` with one plain sentence (the store cannot open, the port is busy).
    public static func assemble(
        config: NodeConfig, identity: SigningKey, databasePath: String, networking: Bool = true,
        clock: @escaping @Sendable () -> UInt64 = MarketNode.systemClock, logger: Logger
    ) async throws(NodeError) -> NodeAssembly {
        let database: SoukDatabase
        do { database = try SoukDatabase.open(path: databasePath) } catch { throw .io("\(error)") }
        let node = MarketNode(
            identity: identity, database: database, network: config.network, clock: clock, logger: logger)
        await node.setArbiterMode(config.arbiter, autoDefaults: config.arbiterAutoDefaults)
        var services: [any Service] = [
            PeriodicService.expirySweeper(node: node, logger: logger),
            PeriodicService.walCheckpointer(database: database, logger: logger),
        ]
        guard networking else {
            await node.markLogSynced()  // no peers to learn its own log from
            return NodeAssembly(node: node, peers: nil, p2pAddress: nil, services: services)
        }
        // The peer manager runs on the node's clock (a testnet `--clock-offset` shifts both).
        let offset = Double(Int64(clock()) - Int64(MarketNode.systemClock()))
        let system = PeerManager.systemClock
        let peerClock: @Sendable () -> Double = { system() + offset }
        let peers = PeerManager(node: node, settings: p2pSettings(config), logger: logger, clock: peerClock)
        do {
            try await peers.bind()
        } catch {
            throw .io(
                NodeError.listenFailure(
                    error, what: "peers", address: HostPort(host: config.p2pBind, port: config.effectiveP2PPort),
                    flag: "--p2p-port"))
        }
        services.append(peers)
        if config.effectiveLocalDiscovery {
            services.append(LocalDiscovery(peers: peers, network: config.network, logger: logger))
        }
        let address = HostPort(host: config.p2pBind, port: await peers.boundPort)
        return NodeAssembly(node: node, peers: peers, p2pAddress: address, services: services)
    }
}
