import ArgumentParser
import SoukRPC

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Facts about the running node.", subcommands: [Info.self])

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Node id, network, RPC address and counts.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let r = try options.call("node.info")
            options.printResult(r) { r in
                [
                    "node id:   \(r["node_id"]?.stringValue ?? "?")",
                    "network:   \(r["network"]?.stringValue ?? "?")",
                    "version:   \(r["version"]?.stringValue ?? "?")",
                    "rpc:       \(r["rpc"]?["host"]?.stringValue ?? "?"):\(r["rpc"]?["port"]?.intValue ?? 0)",
                    "data dir:  \(r["datadir"]?.stringValue ?? "?")",
                    "listings:  \(r["listings"]?["active"]?.intValue ?? 0) active, "
                        + "\(r["listings"]?["retracted"]?.intValue ?? 0) retracted",
                    "uptime:    \(r["uptime_seconds"]?.intValue ?? 0) s",
                ].joined(separator: "\n") + Self.network(r)
            }
        }
    }
}

extension NodeCommand.Info {
    static func network(_ r: JSONValue) -> String {
        guard let p2p = r["p2p"], p2p != .null else { return "\np2p:       disabled" }
        var out = "\np2p:       \(p2p["host"]?.stringValue ?? "?"):\(p2p["port"]?.intValue ?? 0)"
        if let sync = r["sync"] {
            let inSync = sync["in_sync"]?.boolValue == true ? "in sync" : "not yet in sync"
            out +=
                "\npeers:     \(sync["connected_peers"]?.intValue ?? 0) connected, \(inSync)"
                + " (reconciled with \(sync["peers_reconciled"]?.intValue ?? 0))"
        }
        return out
    }
}

struct RPCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc", abstract: "Call any JSON-RPC method: souk rpc METHOD ['{\"param\": ...}'].")

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Method name, e.g. node.info.") var method: String
    @Argument(help: "Params as a JSON object or array.") var params: String?

    func run() async throws {
        var p: JSONValue = .object([:])
        if let params {
            guard let parsed = JSONValue.parse(Array(params.utf8)) else { throw CLIError("params are not valid JSON") }
            p = parsed
        }
        let client = try options.client()
        do {
            print(try client.call(method, params: p).pretty)
        } catch let e as RPCError {
            throw CLIError("\(e.message) (code \(e.code))")
        } catch let e as RPCClient.ClientError {
            throw CLIError(e.description)
        }
    }
}
