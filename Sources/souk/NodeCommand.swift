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
        commandName: "rpc",
        abstract: "Call any JSON-RPC method: souk rpc METHOD [key=value ...] or souk rpc METHOD '{\"key\": ...}'.",
        discussion: """
            Named parameters (as bitcoin-cli -named): each key=value becomes a parameter; a value that is JSON \
            (a number, true, false, null, an array, a quoted string) is sent as that, anything else as a string. \
            `souk help METHOD` describes a method's parameters.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Method name, e.g. node.info.") var method: String
    @Argument(help: "key=value pairs, or the params as one JSON object or array.") var params: [String] = []

    /// The params the arguments give. A value is sent as a string when the OpenRPC document says
    /// the parameter is one (`price=5` stays "5"), else as JSON when it parses as JSON.
    static func params(_ arguments: [String], method: String = "") throws -> JSONValue {
        if arguments.count == 1, let first = arguments[0].first, first == "{" || first == "[" {
            guard let parsed = JSONValue.parse(Array(arguments[0].utf8)) else {
                throw CLIError("params are not valid JSON", kind: .refused)
            }
            return parsed
        }
        var o: [String: JSONValue] = [:]
        for argument in arguments {
            guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else {
                throw CLIError(
                    "\"\(argument)\" is not key=value (or give the params as one JSON object)", kind: .refused)
            }
            let key = String(argument[..<eq])
            let text = String(argument[argument.index(after: eq)...])
            if MethodHelp.schemaType(method, key) == "string" {
                o[key] = .string(text)
            } else {
                o[key] = JSONValue.parse(Array(text.utf8)) ?? .string(text)
            }
        }
        return .object(o)
    }

    func run() async throws {
        let p = try Self.params(params, method: method)
        let client = try options.client()
        do {
            print(try client.call(method, params: p).pretty)
        } catch let e as RPCError {
            // The raw command keeps the code and the parameter names: its users speak JSON-RPC.
            throw CLIError("\(e.message) (code \(e.code))", kind: CLIError(e).kind, rpcCode: e.code)
        } catch let e as RPCClient.ClientError {
            throw CLIError(e)
        }
    }
}

/// `souk help METHOD`: a JSON-RPC method's description from the OpenRPC document in the binary.
enum MethodHelp {
    /// The JSON type of a method's parameter (`$ref`s followed), or `nil` when unknown.
    static func schemaType(_ method: String, _ param: String) -> String? {
        guard let doc = try? OpenRPC.document(),
            let m = doc["methods"]?.arrayValue?.first(where: { $0["name"]?.stringValue == method }),
            var schema = m["params"]?.arrayValue?.first(where: { $0["name"]?.stringValue == param })?["schema"]
        else { return nil }
        for _ in 0..<4 {
            if let type = schema["type"]?.stringValue { return type }
            if let ref = (schema["$ref"] ?? schema["allOf"]?.arrayValue?.first?["$ref"])?.stringValue,
                let name = ref.split(separator: "/").last,
                let target = doc["components"]?["schemas"]?[String(name)]
            {
                schema = target
                continue
            }
            return nil
        }
        return nil
    }

    /// The help text, or `nil` when `name` is not a method.
    static func text(_ name: String) -> String? {
        guard let doc = try? OpenRPC.document(),
            let m = doc["methods"]?.arrayValue?.first(where: { $0["name"]?.stringValue == name })
        else { return nil }
        var lines = ["\(name) — \(m["summary"]?.stringValue ?? "")"]
        if let d = m["description"]?.stringValue, !d.isEmpty { lines += ["", d] }
        let params = m["params"]?.arrayValue ?? []
        lines += ["", params.isEmpty ? "No parameters." : "Parameters:"]
        for p in params {
            let required = p["required"]?.boolValue == true ? " (required)" : ""
            lines.append("  \(p["name"]?.stringValue ?? "?")\(required): \(p["description"]?.stringValue ?? "")")
        }
        let example = params.prefix(2).compactMap { $0["name"]?.stringValue }.map { "\($0)=…" }.joined(separator: " ")
        lines += ["", "Call it: souk rpc \(name)\(example.isEmpty ? "" : " " + example)"]
        return lines.joined(separator: "\n")
    }
}
