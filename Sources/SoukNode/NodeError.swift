public import SoukCore

/// Node-level failures, each with a message a person can act on.
public enum NodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case noIdentity(datadir: String)
    case identityExists(datadir: String)
    case noCookie(path: String)
    case dataDirInUse(datadir: String)
    case badConfig(String)
    case io(String)
    case listingNotFound(ListingID)
    case listingRetracted(ListingID, retractedAt: UInt64)
    case listingExpired(ListingID)
    case notSeller(ListingID)
    case invalid(ValidationError)
    case quotaExceeded(limit: Int)
    case conflict(String)
    case profileNotFound(NodeID)
    case tradeNotFound(ObjectID)
    case arbiterNotFound(NodeID)
    /// The trade's state or this node's role does not allow the step (one sentence why).
    case tradeActionRefused(String)
    /// This node already signed another resolution for the trade and never signs a second one.
    case alreadySignedOther(ObjectID)

    /// One plain sentence for a listener that could not be opened (never a raw `bind(...)` error).
    public static func listenFailure(_ error: any Error, what: String, address: HostPort, flag: String) -> String {
        let text = "\(error)"
        if text.contains("Address already in use") || text.contains("errno: 98") {
            return "cannot listen for \(what) on \(address): the port is already in use (another souk daemon, or "
                + "another program); choose another with \(flag)"
        }
        if text.contains("Permission denied") || text.contains("errno: 13") {
            return "cannot listen for \(what) on \(address): permission denied (ports below 1024 need privileges); "
                + "choose another with \(flag)"
        }
        if text.contains("Cannot assign requested address") || text.contains("errno: 99") {
            return "cannot listen for \(what) on \(address): this machine has no such address"
        }
        return "cannot listen for \(what) on \(address): \(text)"
    }

    public var description: String {
        switch self {
        case .noIdentity(let d): return "no identity in \(d) — run `souk init --datadir \(d)`"
        case .identityExists(let d): return "an identity already exists in \(d); refusing to overwrite it"
        case .noCookie(let p): return "no RPC cookie at \(p) — is the daemon running? start it with `souk daemon`"
        case .dataDirInUse(let d): return "another souk daemon is already using \(d)"
        case .badConfig(let s): return "bad configuration: \(s)"
        case .io(let s): return s
        case .listingNotFound(let id): return "no listing \(id) on this node"
        case .listingRetracted(let id, let at): return "listing \(id) was retracted at \(at)"
        case .listingExpired(let id): return "listing \(id) has expired"
        case .notSeller(let id): return "listing \(id) belongs to another seller; only its seller can change it"
        case .invalid(let e): return e.message
        case .quotaExceeded(let limit): return "seller already has \(limit) active listings (the per-author quota)"
        case .conflict(let s): return s
        case .profileNotFound(let id): return "no profile of node \(id) on this node"
        case .tradeNotFound(let id): return "no trade \(id) on this node"
        case .arbiterNotFound(let id): return "no arbiter profile of \(id) on this node"
        case .tradeActionRefused(let s): return s
        case .alreadySignedOther(let id):
            return "this node already signed another resolution for trade \(id); it never signs a second one"
        }
    }
}
