import ArgumentParser
import Foundation
import SoukNode
import SoukRPC

/// Flags every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (default: $SOUK_DATADIR or ~/.souk).")
    var datadir: String = DataDir.defaultPath

    @Option(name: .long, help: "JSON-RPC port (default: from souk.conf, else 7420; testnet 17420).")
    var rpcPort: Int?

    @Option(name: .long, help: "JSON-RPC host the client connects to.")
    var rpcHost: String = "127.0.0.1"

    @Flag(name: .long, help: "Print the exact JSON result instead of text.")
    var json = false

    var dataDir: DataDir { DataDir(path: datadir) }

    /// A client for the daemon of this data dir, with a clear error when it cannot be reached.
    func client() throws -> RPCClient {
        let dir = dataDir
        guard dir.exists else {
            throw CLIError("no data dir at \(dir.path) — run `souk init --datadir \(dir.path)` first")
        }
        let config = try NodeConfig.load(from: dir)
        let port = rpcPort ?? config.effectiveRPCPort
        guard dir.hasIdentity else { throw CLIError("\(NodeError.noIdentity(datadir: dir.path))") }
        guard let cookie = try? dir.readCookie() else {
            throw CLIError("no daemon at \(rpcHost):\(port) (no \(dir.cookieFile)) — start it with `souk daemon`")
        }
        return RPCClient(host: rpcHost, port: port, credentials: cookie)
    }

    /// Calls a method and turns every failure into one line a person can act on.
    func call(_ method: String, _ params: [String: JSONValue] = [:]) throws -> JSONValue {
        let client = try client()
        do {
            return try client.call(method, params: .object(params))
        } catch let e as RPCError {
            throw CLIError(e.message)
        } catch let e as RPCClient.ClientError {
            throw CLIError(e.description)
        }
    }

    func printResult(_ value: JSONValue, text: (JSONValue) -> String) {
        print(json ? value.pretty : text(value))
    }
}

/// A one-line error for the user; ArgumentParser prints it as `Error: …` and exits 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
