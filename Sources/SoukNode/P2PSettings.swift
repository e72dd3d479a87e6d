import SoukCore

/// Peer-to-peer settings of a daemon.
public struct P2PSettings: Sendable {
    public var network: String
    /// Address and port to listen on; `listenPort` 0 picks a free port.
    public var listenHost: String = "0.0.0.0"
    public var listenPort: Int
    /// Peers to keep connected to (`--connect`), in addition to the address book.
    public var connect: [String] = []
    public var outboundTarget: Int = 8
    public var maxInbound: Int = 64
    /// How long a misbehaving peer stays banned.
    public var banSeconds: UInt64 = 24 * 3600
    /// Per (kind, author): replacements accepted from the network per window.
    public var authorRateRules: [UInt8: AuthorRateLimit.Rule] = AuthorRateLimit.defaultRules
    /// Bounds of the pool of objects waiting for a dependency.
    public var deferredLimits = DeferredPool.Limits()
    /// Periodic anti-entropy: reconcile with one random peer this often (seconds).
    public var reconcileInterval: Double = 30
    /// Whether to dial addresses learned from peers (off: only `connect` peers are dialled).
    public var discover: Bool = true
    /// Hold deliveries for recipients that are not linked and hand them over when they connect
    /// (mailbox service, `Specs/trade.md` §9).
    public var mailbox: Bool = false
    /// How often trade upkeep runs (resends, deadlines, the arbiter's defaults), in seconds.
    public var tradeInterval: Double = 2
    public var userAgent: String = "souk/\(SoukVersion.string)"

    /// - Precondition: the network name is 1...200 bytes (it travels in the 256-byte first handshake message).
    public init(network: String, listenPort: Int) {
        precondition((1...200).contains(network.utf8.count), "network name must be 1 to 200 bytes")
        self.network = network
        self.listenPort = listenPort
    }
}
