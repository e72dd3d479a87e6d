import SoukCore

/// Which links to make, keep and drop (`Specs/wire.md` §6 and §9), as pure functions.
public enum ConnectionPolicy {
    /// Two links to one node id: both ends keep the link whose initiator has the lower node id (so
    /// two nodes that dial each other at once keep exactly one); with the same initiator, the older.
    /// - Returns: true to keep the new link and close the existing one.
    public static func keepNewLink(newInitiator: [UInt8], existingInitiator: [UInt8]) -> Bool {
        newInitiator.lexicographicallyPrecedes(existingInitiator)
    }

    /// An inbound peer as eviction sees it.
    public struct InboundPeer: Sendable, Equatable {
        public var key: Int
        public var host: String
        public var since: Double
        public var lastUseful: Double
        public init(key: Int, host: String, since: Double, lastUseful: Double) {
            self.key = key
            self.host = host
            self.since = since
            self.lastUseful = lastUseful
        }
    }

    /// Picks the inbound peer to evict for a new one, keeping a diverse set: protects the 4
    /// longest-connected and the 4 most recently useful, then evicts the newest peer of the most
    /// crowded network group. - Returns: `nil` (refuse the newcomer) when that group has a single
    /// member while there are several groups, or nobody is left to evict.
    public static func evictionCandidate(_ inbound: [InboundPeer]) -> Int? {
        var pool = inbound
        let protectedOld = Set(pool.sorted { ($0.since, $0.key) < ($1.since, $1.key) }.prefix(4).map(\.key))
        let protectedUseful = Set(
            pool.sorted { ($0.lastUseful, $1.key) > ($1.lastUseful, $0.key) }.prefix(4).map(\.key))
        pool.removeAll { protectedOld.contains($0.key) || protectedUseful.contains($0.key) }
        let groups = Dictionary(grouping: pool, by: { netGroup($0.host) })
        // The most crowded group; among equals, the first by name, so the choice is deterministic.
        guard
            let crowded = groups.max(by: { a, b in
                a.value.count != b.value.count ? a.value.count < b.value.count : a.key > b.key
            })?.value
        else { return nil }
        if groups.count > 1 && crowded.count == 1 { return nil }
        return crowded.max { ($0.since, $0.key) < ($1.since, $1.key) }?.key
    }

    /// The /16 of an IPv4 address, the first two groups of an IPv6 one.
    public static func netGroup(_ host: String) -> String {
        if host.contains(":") { return host.split(separator: ":").prefix(2).joined(separator: ":") }
        return host.split(separator: ".").prefix(2).joined(separator: ".")
    }

    /// Seconds to wait before dialling an address that failed `failures` times in a row.
    public static func backoff(failures: Int) -> Double { min(300, Double(1 << min(failures, 9))) }

    /// What the dialler knows about one address.
    public struct DialState: Sendable, Equatable {
        public var lastDial: Double?
        public var failures: Int
        public init(lastDial: Double? = nil, failures: Int = 0) {
            self.lastDial = lastDial
            self.failures = failures
        }
    }

    /// The addresses to dial now, in order: configured peers first, then the address book.
    /// - Parameters:
    ///   - slots: outbound links still wanted (target minus links and dials in progress).
    ///   - skip: addresses connected, being dialled, or found to be ourselves.
    public static func dialCandidates(
        configured: [String], known: [String], slots: Int, skip: (String) -> Bool, state: [String: DialState],
        now: Double
    ) -> [String] {
        var out: [String] = []
        var seen: Set<String> = []
        for address in configured + known where out.count < slots && seen.insert(address).inserted {
            guard !skip(address) else { continue }
            let s = state[address] ?? DialState()
            if let last = s.lastDial, now - last < backoff(failures: s.failures) { continue }
            out.append(address)
        }
        return out
    }
}
