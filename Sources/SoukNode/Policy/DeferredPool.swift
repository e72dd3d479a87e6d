public import SoukCore

/// Objects that arrived before what they depend on (a review before its trade, log entry n before
/// n − 1), waiting to be checked again when the dependency is stored (DESIGN invariant 9: the
/// sender is not punished for the order of arrival).
///
/// Bounded three ways, so a peer cannot use it to make the node hold memory: at most
/// `Limits.perPeer` objects from one peer (more are refused), at most `Limits.total` in all (the
/// oldest is dropped to make room), and each waits at most `Limits.lifetime` seconds.
public struct DeferredPool: Sendable {
    public struct Limits: Sendable, Equatable {
        public var perPeer = 256
        public var total = 4_096
        public var lifetime: Double = 600
        public init() {}
    }

    /// One waiting object.
    public struct Entry: Sendable, Equatable {
        public let id: ObjectID
        public let envelope: [UInt8]
        /// The link it came from (for the per-peer bound), as the peer manager keys links.
        public let peer: Int
        public let dependency: ObjectDependency
        public let expires: Double
    }

    public enum AddResult: Sendable, Equatable {
        case added
        /// Already waiting.
        case duplicate
        /// The peer already has `perPeer` objects waiting: this one is dropped.
        case peerFull
    }

    public let limits: Limits
    private var entries: [ObjectID: Entry] = [:]
    private var waiting: [ObjectDependency: [ObjectID]] = [:]
    private var perPeer: [Int: Int] = [:]
    private var arrival = BoundedFIFO<ObjectID>()

    public init(limits: Limits = Limits()) { self.limits = limits }

    public var count: Int { entries.count }
    public func count(from peer: Int) -> Int { perPeer[peer] ?? 0 }
    public func contains(_ id: ObjectID) -> Bool { entries[id] != nil }

    /// Keeps an object until `dependency` is stored, it expires, or room is needed.
    public mutating func add(
        id: ObjectID, envelope: [UInt8], from peer: Int, waitingFor dependency: ObjectDependency, now: Double
    ) -> AddResult {
        guard entries[id] == nil else { return .duplicate }
        guard count(from: peer) < limits.perPeer else { return .peerFull }
        while entries.count >= limits.total, let oldest = arrival.popFirst() { remove(oldest) }
        entries[id] = Entry(
            id: id, envelope: envelope, peer: peer, dependency: dependency, expires: now + limits.lifetime)
        waiting[dependency, default: []].append(id)
        perPeer[peer, default: 0] += 1
        arrival.append(id)
        return .added
    }

    /// Takes out every object waiting for one of these dependencies, to be checked again.
    public mutating func release(_ satisfied: [ObjectDependency]) -> [Entry] {
        var out: [Entry] = []
        for dependency in satisfied {
            for id in waiting.removeValue(forKey: dependency) ?? [] {
                if let e = remove(id) { out.append(e) }
            }
        }
        return out
    }

    /// Drops every object whose wait ended.
    /// - Returns: the dropped entries.
    @discardableResult
    public mutating func expire(now: Double) -> [Entry] {
        let due = entries.values.filter { $0.expires <= now }
        for e in due { remove(e.id) }
        return due
    }

    @discardableResult
    private mutating func remove(_ id: ObjectID) -> Entry? {
        guard let e = entries.removeValue(forKey: id) else { return nil }
        waiting[e.dependency]?.removeAll { $0 == id }
        if waiting[e.dependency]?.isEmpty == true { waiting[e.dependency] = nil }
        perPeer[e.peer]! -= 1
        if perPeer[e.peer] == 0 { perPeer[e.peer] = nil }
        arrival.remove(id)
        return e
    }
}
