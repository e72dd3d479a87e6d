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
        }
    }
}
