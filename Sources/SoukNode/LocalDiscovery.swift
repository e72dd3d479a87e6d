import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import SoukCore
import SoukCrypto
import SoukWire

/// Local discovery (`Specs/wire.md` §16): nodes on one local network find each other without
/// configuration. The service binds a UDP port shared by every node of the host (`SO_REUSEADDR`),
/// broadcasts a `LANAnnouncement` on every IPv4 interface with a broadcast address shortly after
/// start and then once a minute, and asks the peer manager to dial each neighbour it hears
/// (same network, another instance). The handshake that follows authenticates the neighbour;
/// the announcement itself is trusted for nothing.
public struct LocalDiscovery: Service {
    /// The UDP port announcements go to on a network.
    public static func port(network: NodeConfig.Network) -> Int { network == .main ? 7422 : 17422 }

    let peers: PeerManager
    let network: String
    let port: Int
    let interval: Duration
    let firstDelay: Duration
    let logger: Logger
    let instance: [UInt8]

    public init(
        peers: PeerManager, network: NodeConfig.Network, logger: Logger, interval: Duration = .seconds(60),
        firstDelay: Duration = .seconds(1)
    ) {
        self.peers = peers
        self.network = network.rawValue
        self.port = Self.port(network: network)
        self.interval = interval
        self.firstDelay = firstDelay
        self.logger = logger
        self.instance = secureRandomBytes(8)
    }

    typealias Datagrams = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

    /// Runs until graceful shutdown. A port that cannot be bound switches local discovery off with
    /// one warning; the node runs on without it.
    public func run() async throws {
        let channel: Datagrams
        do {
            channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(.socketOption(.so_broadcast), value: 1)
                .bind(host: "0.0.0.0", port: port) { ch in
                    ch.eventLoop.makeCompletedFuture { try Datagrams(wrappingChannelSynchronously: ch) }
                }
        } catch {
            logger.warning(
                "local discovery off: cannot bind UDP port \(port)", metadata: ["error": "\(error)"])
            return
        }
        logger.info("local discovery on", metadata: ["udp.port": "\(port)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await channel.executeThenClose { inbound, outbound in
                    try await withThrowingDiscardingTaskGroup { group in
                        group.addTask { try await self.announce(outbound) }
                        for try await datagram in inbound { await self.heard(datagram) }
                    }
                }
            }
        } catch is CancellationError {
        } catch {
            logger.warning("local discovery stopped", metadata: ["error": "\(error)"])
        }
    }

    private func announce(_ outbound: NIOAsyncChannelOutboundWriter<AddressedEnvelope<ByteBuffer>>) async throws {
        try await Task.sleep(for: firstDelay)
        while !Task.isCancelled {
            let p2pPort = await peers.boundPort
            if (1...65_535).contains(p2pPort) {
                let bytes = LANAnnouncement(network: network, p2pPort: UInt16(p2pPort), instance: instance).encoded
                for target in Self.broadcastTargets(port: port) {
                    do {
                        try await outbound.write(
                            AddressedEnvelope(remoteAddress: target, data: ByteBuffer(bytes: bytes)))
                    } catch {
                        logger.debug(
                            "local announcement not sent", metadata: ["to": "\(target)", "error": "\(error)"])
                    }
                }
            }
            try await Task.sleep(for: interval)
        }
    }

    /// The broadcast address (at `port`) of every up, non-loopback IPv4 interface that has one.
    static func broadcastTargets(port: Int) -> [SocketAddress] {
        guard let devices = try? System.enumerateDevices() else { return [] }
        var seen: Set<String> = []
        var out: [SocketAddress] = []
        for device in devices {
            guard case .v4 = device.address, let broadcast = device.broadcastAddress, case .v4 = broadcast,
                let ip = broadcast.ipAddress, !ip.hasPrefix("127."), seen.insert(ip).inserted,
                let target = try? SocketAddress(ipAddress: ip, port: port)
            else { continue }
            out.append(target)
        }
        return out
    }

    private func heard(_ datagram: AddressedEnvelope<ByteBuffer>) async {
        guard datagram.data.readableBytes <= LANAnnouncement.maxBytes,
            let bytes = datagram.data.getBytes(at: datagram.data.readerIndex, length: datagram.data.readableBytes),
            let announcement = LANAnnouncement(datagram: bytes), announcement.network == network,
            announcement.instance != instance, let host = datagram.remoteAddress.ipAddress
        else { return }
        await peers.neighbourAnnounced(host: host, port: Int(announcement.p2pPort))
    }
}
