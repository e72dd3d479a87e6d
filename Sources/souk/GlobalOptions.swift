import ArgumentParser
import Foundation
import SoukCore
import SoukNode
import SoukRPC

/// Flags every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (default: $SOUK_DATADIR or ~/.souk).")
    var datadir: String = DataDir.defaultPath

    @Option(
        name: .long,
        help:
            "JSON-RPC port (default: the running daemon's, from <datadir>/api; else souk.conf; else 7420, testnet 17420)."
    )
    var rpcPort: Int?

    @Option(name: .long, help: "JSON-RPC host the client connects to.")
    var rpcHost: String = "127.0.0.1"

    @Flag(name: .long, help: "Print the exact JSON result instead of text.")
    var json = false

    var dataDir: DataDir { DataDir(path: datadir) }

    mutating func validate() throws {
        if let rpcPort, !(0...65_535).contains(rpcPort) {
            throw CLIError("--rpc-port must be 0 to 65535, got \(rpcPort)")
        }
    }

    /// A client for the daemon of this data dir, with a clear error when it cannot be reached. The
    /// port comes from `--rpc-port`, else the running daemon's `api` file, else souk.conf.
    func client() throws -> RPCClient {
        let dir = dataDir
        guard dir.exists else {
            throw CLIError("no data dir at \(dir.path) — run `souk init --datadir \(dir.path)` first")
        }
        let config = try NodeConfig.load(from: dir)
        var host = rpcHost
        var port = rpcPort ?? config.effectiveRPCPort
        if rpcPort == nil, let api = dir.readAPIFile() {
            port = api.rpc.port
            if rpcHost == "127.0.0.1", api.rpc.host != "0.0.0.0", api.rpc.host != "::" { host = api.rpc.host }
        }
        guard dir.hasIdentity else { throw CLIError("\(NodeError.noIdentity(datadir: dir.path))") }
        guard let cookie = try? dir.readCookie() else {
            throw CLIError(
                "no daemon at \(host):\(port) (no \(dir.cookieFile)) — start it with `souk daemon`", kind: .notRunning)
        }
        return RPCClient(host: host, port: port, credentials: cookie)
    }

    /// Calls a method and turns every failure into one line a person can act on.
    func call(_ method: String, _ params: [String: JSONValue] = [:]) throws -> JSONValue {
        let client = try client()
        do {
            return try client.call(method, params: .object(params))
        } catch let e as RPCError {
            throw CLIError(e)
        } catch let e as RPCClient.ClientError {
            throw CLIError(e)
        }
    }

    func printResult(_ value: JSONValue, text: (JSONValue) -> String) {
        print(json ? value.pretty : text(value))
    }
}

/// Lets the shared options stand before the subcommand too (`souk --datadir X node info`, as
/// bitcoin-cli and kubo accept): options before the first word are moved to the end.
enum GlobalArguments {
    /// Options that take a value.
    static let valued: Set<String> = ["--datadir", "--rpc-port", "--rpc-host"]
    /// Flags.
    static let flags: Set<String> = ["--json"]

    static func reorder(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            let name = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            if flags.contains(a) || (valued.contains(name) && a.contains("=")) {
                leading.append(a)
                i += 1
            } else if valued.contains(a), i + 1 < arguments.count {
                leading += [a, arguments[i + 1]]
                i += 2
            } else {
                break
            }
        }
        // Only when a subcommand follows: `souk --json` alone keeps its meaning (an error).
        guard !leading.isEmpty, i < arguments.count else { return arguments }
        return Array(arguments[i...]) + leading
    }
}

/// A one-line error for the user, with the kind of failure its exit code tells apart
/// (`souk` prints `Error: …`, or `{"error": …}` with `--json`; README "Exit codes").
struct CLIError: Error, CustomStringConvertible {
    enum Kind: String {
        /// Something else went wrong.
        case failed
        /// The daemon is not running or cannot be reached.
        case notRunning = "not_running"
        /// The daemon (or the CLI) refused the request: bad input, a rule, a quota.
        case refused
        /// What was asked for does not exist.
        case notFound = "not_found"

        var exitCode: Int32 {
            switch self {
            case .failed: return 1
            case .notRunning: return 3
            case .refused: return 4
            case .notFound: return 5
            }
        }
    }

    let description: String
    let kind: Kind
    /// The JSON-RPC error code behind it, if any.
    let rpcCode: Int?

    init(_ message: String, kind: Kind = .failed, rpcCode: Int? = nil) {
        description = message
        self.kind = kind
        self.rpcCode = rpcCode
    }

    /// An RPC error as the CLI user sees it: parameter names become the flags that set them.
    init(_ e: RPCError) {
        var message = e.message
        if let field = e.data?["field"]?.stringValue {
            let flag = "--" + field.replacingOccurrences(of: "_", with: "-")
            // The quoted name when the message quotes it (other uses of the word stay words).
            message =
                message.contains("\"\(field)\"")
                ? message.replacingOccurrences(of: "\"\(field)\"", with: flag)
                : message.replacingOccurrences(of: field, with: flag)
        }
        let kind: Kind
        switch e.code {
        case -32001, -32007, -32008, -32009, -32010, -32011: kind = .notFound
        case -32602, -32002, -32003, -32004, -32005, -32006, -32012, -32013: kind = .refused
        default: kind = .failed
        }
        self.init(message, kind: kind, rpcCode: e.code)
    }

    init(_ e: RPCClient.ClientError) {
        switch e {
        case .noDaemon: self.init(e.description, kind: .notRunning)
        default: self.init(e.description)
        }
    }
}
