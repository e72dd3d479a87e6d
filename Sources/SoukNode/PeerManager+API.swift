import Foundation
public import SoukCore
public import SoukStore
import SoukWire

/// One row of `peer.list`.
public struct PeerInfo: Sendable {
    public var nodeID: String?
    public var address: String
    public var direction: String
    public var since: Double
    public var bytesIn: Int
    public var bytesOut: Int
    public var lastMessage: String
    public var lastMessageAt: Double
    public var eager: Bool
    public var rttMilliseconds: Double?
    public var userAgent: String
    public var listenPort: Int
    public var reconciledAt: Double?
    public var ready: Bool
    /// The object kinds exchanged with this peer (those both support).
    public var kinds: [String]
    /// The optional features the peer advertised.
    public var features: [String]
}

/// Sync facts for `node.info`.
public struct SyncStatus: Sendable {
    public var peersReconciled: Int
    public var lastReconciledAt: Double?
    public var connectedPeers: Int
    /// Reconciled with at least one connected peer since connecting, with nothing outstanding.
    public var inSync: Bool
    public var outstandingRequests: Int
    /// Reconciliations finished since the node started (either role).
    public var reconciliations: Int
}

/// Traffic counters for `node.stats`.
public struct TrafficSnapshot: Sendable {
    public var bytesInByType: [String: Int]
    public var bytesOutByType: [String: Int]
    public var objectsReceived: Int
    public var objectsNew: Int
    public var objectsDuplicate: Int
    public var objectsInvalid: Int
}

/// How a `peer connect` ended.
public enum ConnectOutcome: Sendable, Equatable {
    /// The handshake completed and the link is up with this node.
    case connected(NodeID)
    /// A connection was made but the link ended before it was ready (for example: the peer is on
    /// another network, the handshake failed, it is banned here).
    case refused(String)
    /// No connection could be made (nothing listens there, or it timed out).
    case unreachable
    /// No outcome within the wait.
    case timedOut
}

/// Why a peer operation was refused.
public struct PeerCommandError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

extension PeerManager {
    public func peerList() -> [PeerInfo] {
        peers.values.sorted { $0.since < $1.since }.map { p in
            PeerInfo(
                nodeID: p.nodeID?.hex, address: HostPort(host: p.remoteHost, port: p.remotePort).description,
                direction: p.direction.rawValue,
                since: p.since, bytesIn: p.bytesIn, bytesOut: p.bytesOut, lastMessage: p.lastMessage,
                lastMessageAt: p.lastMessageAt, eager: router.isEager(p.key),
                rttMilliseconds: p.link.rttSeconds.map { $0 * 1000 }, userAgent: p.userAgent,
                listenPort: Int(p.listenPort), reconciledAt: scheduler.reconciledAt(p.key), ready: p.ready,
                kinds: p.kinds.sorted().compactMap { ObjectKind(rawValue: $0)?.name }, features: p.features)
        }
    }

    /// Dials `address` now (ignoring backoff) and remembers it.
    public func connect(_ address: String) throws(PeerCommandError) {
        guard let hp = HostPort(address) else {
            throw PeerCommandError(description: "address must be HOST:PORT, got \"\(address)\"")
        }
        let normalized = hp.description
        try? node.database.rememberAddress(
            host: hp.host, port: hp.port, nodeID: nil, source: "manual", seen: UInt64(now()))
        dialState[normalized]?.failures = 0
        if !isConnected(to: normalized) && !dialing.contains(normalized) { requestDial(normalized, now: now()) }
    }

    /// Dials `address` now and waits for the outcome: connected (with the peer's node id), refused
    /// (and why), unreachable, or no answer within `timeout` seconds.
    public func connectAndWait(_ address: String, timeout: Double = 10) async throws(PeerCommandError) -> ConnectOutcome
    {
        try connect(address)
        let normalized = HostPort(address)!.description
        if let p = peers.values.first(where: { $0.ready && ($0.dialed == normalized || isConnected(to: normalized)) }),
            let id = p.nodeID
        {
            return .connected(id)
        }
        return await withCheckedContinuation { continuation in
            connectWaiters[normalized, default: []].append(continuation)
            Task {
                try? await Task.sleep(for: .seconds(timeout))
                self.resolveConnect(normalized, .timedOut)
            }
        }
    }

    /// Ends every wait on `address` with `outcome`.
    func resolveConnect(_ address: String, _ outcome: ConnectOutcome) {
        for waiter in connectWaiters.removeValue(forKey: address) ?? [] { waiter.resume(returning: outcome) }
    }

    /// Closes links to a node id (hex, or a prefix of at least 8 digits as `souk peer list` shows
    /// it) or an address (`host:port` as `peer list` shows it, or as dialled). Returns how many closed.
    public func disconnect(_ target: String) -> Int {
        let keys = peers.values.filter { p in
            Self.nodeIDMatches(p.nodeID, target)
                || HostPort(host: p.remoteHost, port: p.remotePort).description == target
                || p.dialed == target
        }.map(\.key)
        for k in keys { closePeer(k, reason: "disconnected by operator", misbehaving: false) }
        return keys.count
    }

    /// A full node id, or a prefix of at least 8 hex digits as `souk peer list` shows it.
    static func nodeIDMatches(_ id: NodeID?, _ target: String) -> Bool {
        let t = target.lowercased()
        guard let hex = id?.hex, t.count >= 8, t.allSatisfy(\.isHexDigit) else { return false }
        return hex.hasPrefix(t)
    }

    /// Bans a node id (64 hex digits) or an IP address for `seconds`, and drops matching links.
    public func ban(_ target: String, seconds: UInt64, reason: String) throws(PeerCommandError) -> BanRecord {
        let key = try Self.banKey(target)
        let now = UInt64(now())
        do {
            try node.database.ban(key, until: now + seconds, reason: reason, now: now)
        } catch {
            throw PeerCommandError(description: "could not store the ban: \(error)")
        }
        banCache.at = -1
        for p in peers.values where key == "node:\(p.nodeID?.hex ?? "")" || key == "ip:\(p.remoteHost)" {
            closePeer(p.key, reason: "banned by operator", misbehaving: false)
        }
        return BanRecord(target: key, until: now + seconds, reason: reason, createdAt: now)
    }

    public func unban(_ target: String) throws(PeerCommandError) -> Bool {
        let key = try Self.banKey(target)
        banCache.at = -1
        return (try? node.database.unban(key)) ?? false
    }

    public func bans() -> [BanRecord] {
        (try? node.database.bans(now: UInt64(now()))) ?? []
    }

    static func banKey(_ target: String) throws(PeerCommandError) -> String {
        if target.hasPrefix("node:") || target.hasPrefix("ip:") { return target }
        if let id = NodeID(hex: target) { return "node:\(id.hex)" }
        if target.contains(".") || target.contains(":") { return "ip:\(target)" }
        throw PeerCommandError(description: "ban target must be a node id (64 hex digits) or an IP address")
    }

    public func syncStatus() -> SyncStatus {
        let ready = peers.values.filter(\.ready)
        let outstanding = peers.values.reduce(0) { $0 + $1.requested.count + $1.requestedShort.count }
        let reconciledNow = ready.filter { scheduler.reconciledAt($0.key) != nil }
        return SyncStatus(
            peersReconciled: reconciledPeers.count, lastReconciledAt: reconciledPeers.values.max(),
            connectedPeers: ready.count, inSync: !reconciledNow.isEmpty && outstanding == 0,
            outstandingRequests: outstanding, reconciliations: reconciliationsFinished)
    }

    /// What to tell an operator whose node has no way to find peers (nothing connected, none
    /// configured, an empty address book), or `nil` when it has one.
    public func noPeersHint() -> String? {
        guard !peers.values.contains(where: \.ready), settings.connect.isEmpty,
            ((try? node.database.addresses(limit: 1)) ?? []).isEmpty
        else { return nil }
        return Self.noPeersHint
    }

    public static let noPeersHint =
        "this node knows no peer, so it cannot join the network: add one with `souk peer add HOST:PORT` "
        + "(kept in souk.conf as a bootstrap peer) or start with `souk daemon --connect HOST:PORT`"

    public func traffic() -> TrafficSnapshot {
        TrafficSnapshot(
            bytesInByType: stats.bytesIn, bytesOutByType: stats.bytesOut, objectsReceived: stats.objectsReceived,
            objectsNew: stats.objectsNew, objectsDuplicate: stats.objectsDuplicate, objectsInvalid: stats.objectsInvalid
        )
    }

    /// When each object first reached this node (Unix seconds, sub-second), for measurements.
    public func arrivalTimes(_ ids: [ObjectID]) -> [ObjectID: Double] {
        var out: [ObjectID: Double] = [:]
        for id in ids { if let t = arrivals[id] { out[id] = t } }
        return out
    }

    /// Queues a reconciliation with every connected peer (after a partition heals, say); they run
    /// one after another. - Returns: how many were queued.
    public func reconcileAll() -> Int {
        let keys = peers.values.filter { $0.ready && !scheduler.isReconciling($0.key) }.map(\.key).sorted()
        if let start = scheduler.request(keys, now: now()) { startReconciliation(with: start) }
        return keys.count
    }
}
