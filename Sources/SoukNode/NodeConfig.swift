import Foundation
public import SoukCore

/// Settings from `<datadir>/souk.conf`: one `key = value` per line, `#` starts a comment.
/// Command-line flags override the file. Unknown keys are an error, so a typo never goes unnoticed.
public struct NodeConfig: Sendable, Equatable {
    public enum Network: String, Sendable, CaseIterable {
        case main
        case testnet
        public var defaultRPCPort: Int { self == .main ? 7420 : 17420 }
        public var defaultP2PPort: Int { self == .main ? 7421 : 17421 }
    }

    public var network: Network = .main
    public var rpcPort: Int?
    public var rpcBind: String = "127.0.0.1"
    /// Binding RPC to a non-loopback address is refused unless this is true.
    public var rpcAllowRemote: Bool = false
    public var p2pPort: Int?
    public var p2pBind: String = "0.0.0.0"
    public var peers: [String] = []
    /// Peers to dial at start to join the network (`bootstrap = HOST:PORT` lines; `souk peer add`).
    public var bootstrap: [String] = []
    /// Where each key's value came from (`souk.conf line N`); keys absent here have their default.
    public var sources: [String: String] = [:]

    /// Every key with its effective value, in `knownKeys` order (lists joined by commas).
    public var effectiveValues: [(key: String, value: String)] {
        [
            ("network", network.rawValue), ("rpc-port", "\(effectiveRPCPort)"), ("rpc-bind", rpcBind),
            ("rpc-allow-remote", "\(rpcAllowRemote)"), ("p2p-port", "\(effectiveP2PPort)"), ("p2p-bind", p2pBind),
            ("peer", peers.joined(separator: ", ")), ("bootstrap", bootstrap.joined(separator: ", ")),
            ("max-inbound", "\(maxInbound)"), ("outbound-target", "\(outboundTarget)"),
            ("ban-seconds", "\(banSeconds)"), ("discover", "\(discover)"),
            ("local-discovery", "\(effectiveLocalDiscovery)"), ("arbiter", "\(arbiter)"),
            ("arbiter-auto-defaults", "\(arbiterAutoDefaults)"), ("mailbox", "\(mailbox)"),
        ]
    }
    public var maxInbound: Int = 64
    public var outboundTarget: Int = 8
    public var banSeconds: Int = 86_400
    /// Dial addresses learned from peers; off keeps the node to its `peer` entries and inbound links.
    public var discover: Bool = true
    /// Announce this node on the local network and dial neighbours that announce themselves
    /// (`LocalDiscovery`); `nil` means the network's default: on for main, off for testnet (so
    /// testnet topologies stay as built).
    public var localDiscovery: Bool?
    /// Serve as an arbiter: acknowledge orders naming this node, sign due default exits.
    public var arbiter: Bool = false
    /// As an arbiter, sign a due default exit (refund, release, expiry) without the operator.
    public var arbiterAutoDefaults: Bool = true
    /// Hold mail for nodes that are not connected (mailbox service).
    public var mailbox: Bool = false

    /// Local discovery runs when `discover` is on and `local-discovery` (or the network's default) says so.
    public var effectiveLocalDiscovery: Bool { discover && (localDiscovery ?? (network == .main)) }

    public init() {}

    public var effectiveRPCPort: Int { rpcPort ?? network.defaultRPCPort }
    public var effectiveP2PPort: Int { p2pPort ?? network.defaultP2PPort }

    public static let knownKeys = [
        "network", "rpc-port", "rpc-bind", "rpc-allow-remote", "p2p-port", "p2p-bind", "peer", "bootstrap",
        "max-inbound", "outbound-target", "ban-seconds", "discover", "local-discovery", "arbiter",
        "arbiter-auto-defaults", "mailbox",
    ]

    /// Parses the config text.
    /// - Throws: `NodeError.badConfig` naming the line and what is wrong.
    public init(parsing text: String, file: String = "souk.conf") throws {
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            defer {
                let body = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                if let eq = body.firstIndex(of: "=") {
                    sources[body[..<eq].trimmingCharacters(in: .whitespaces)] = "\(file) line \(index + 1)"
                }
            }
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let location = "\(file) line \(index + 1)"
            guard let eq = line.firstIndex(of: "=") else {
                throw NodeError.badConfig("\(location): expected key = value")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "network":
                guard let n = Network(rawValue: value) else {
                    throw NodeError.badConfig("\(location): network must be main or testnet")
                }
                network = n
            case "rpc-port": rpcPort = try NodeConfig.port(value, location)
            case "p2p-port": p2pPort = try NodeConfig.port(value, location)
            case "rpc-bind": rpcBind = value
            case "rpc-allow-remote":
                guard value == "true" || value == "false" else {
                    throw NodeError.badConfig("\(location): rpc-allow-remote must be true or false")
                }
                rpcAllowRemote = value == "true"
            case "peer":
                guard HostPort(value) != nil else {
                    throw NodeError.badConfig("\(location): peer must be HOST:PORT, got \"\(value)\"")
                }
                peers.append(value)
            case "bootstrap":
                guard let hp = HostPort(value) else {
                    throw NodeError.badConfig("\(location): bootstrap must be HOST:PORT, got \"\(value)\"")
                }
                if !bootstrap.contains(hp.description) { bootstrap.append(hp.description) }
            case "p2p-bind": p2pBind = value
            case "max-inbound": maxInbound = try NodeConfig.count(value, location, range: 0...10_000)
            case "outbound-target": outboundTarget = try NodeConfig.count(value, location, range: 0...1_000)
            case "ban-seconds": banSeconds = try NodeConfig.count(value, location, range: 1...(10 * 365 * 86_400))
            case "discover":
                guard value == "true" || value == "false" else {
                    throw NodeError.badConfig("\(location): discover must be true or false")
                }
                discover = value == "true"
            case "arbiter", "mailbox", "arbiter-auto-defaults":
                guard value == "true" || value == "false" else {
                    throw NodeError.badConfig("\(location): \(key) must be true or false")
                }
                switch key {
                case "arbiter": arbiter = value == "true"
                case "mailbox": mailbox = value == "true"
                default: arbiterAutoDefaults = value == "true"
                }
            case "local-discovery":
                guard value == "true" || value == "false" else {
                    throw NodeError.badConfig("\(location): local-discovery must be true or false")
                }
                localDiscovery = value == "true"
            default:
                throw NodeError.badConfig(
                    "\(location): unknown key \"\(key)\" (known: \(NodeConfig.knownKeys.joined(separator: ", ")))")
            }
        }
    }

    /// The file text for these settings.
    public var rendered: String {
        var lines = [
            "# Souk node configuration. Command-line flags override these values.", "network = \(network.rawValue)",
        ]
        lines.append("rpc-port = \(effectiveRPCPort)")
        lines.append("rpc-bind = \(rpcBind)")
        lines.append("p2p-port = \(effectiveP2PPort)")
        for p in peers { lines.append("peer = \(p)") }
        for p in bootstrap { lines.append("bootstrap = \(p)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every peer the node dials by configuration: `peer` and `bootstrap` entries.
    public var configuredPeers: [String] { peers + bootstrap.filter { !peers.contains($0) } }

    /// `text` (a souk.conf) with the `bootstrap` line for `address` added or removed; every other
    /// line, comments included, is kept as it is.
    /// - Returns: the new text, and whether anything changed.
    public static func editingBootstrap(_ text: String, address: HostPort, add: Bool) -> (text: String, changed: Bool) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let matches: (String) -> Bool = { line in
            let body = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let parts = body.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return parts.count == 2 && parts[0] == "bootstrap" && HostPort(parts[1]) == address
        }
        let present = lines.contains(where: matches)
        if add {
            guard !present else { return (text, false) }
            lines.append("bootstrap = \(address)")
        } else {
            guard present else { return (text, false) }
            lines.removeAll(where: matches)
        }
        return (lines.joined(separator: "\n") + "\n", true)
    }

    /// Loads the data dir's config, or defaults when the file is absent.
    public static func load(from dataDir: DataDir) throws -> NodeConfig {
        try dataDir.checkAccess()
        guard let data = FileManager.default.contents(atPath: dataDir.configFile) else { return NodeConfig() }
        return try NodeConfig(parsing: String(decoding: data, as: UTF8.self))
    }

    private static func count(_ value: String, _ location: String, range: ClosedRange<Int>) throws -> Int {
        guard let n = Int(value), range.contains(n) else {
            throw NodeError.badConfig(
                "\(location): expected a number in \(range.lowerBound)...\(range.upperBound), got \"\(value)\"")
        }
        return n
    }

    private static func port(_ value: String, _ location: String) throws -> Int {
        guard let p = Int(value), (0...65535).contains(p) else {
            throw NodeError.badConfig("\(location): port must be 0-65535, got \"\(value)\"")
        }
        return p
    }
}
