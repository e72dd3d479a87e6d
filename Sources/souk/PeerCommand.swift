import ArgumentParser
import Foundation
import SoukCore
import SoukNode
import SoukRPC

struct PeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "List, connect, disconnect and ban peers.",
        subcommands: [
            List.self, Add.self, Remove.self, Connect.self, Disconnect.self, Ban.self, Unban.self, Bans.self,
        ])

    /// `souk peer add`: a bootstrap peer, kept in souk.conf and dialled now if the daemon runs.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a bootstrap peer (kept in souk.conf; dialled at every start, and now if the daemon runs).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "HOST:PORT, or [IPv6]:PORT") var address: String

        func run() async throws {
            let hp = try PeerCommand.edit(options, address, add: true)
            let daemon = (try? options.call("peer.connect", ["address": .string(hp.description)])) != nil
            options.printResult(["added": .string(hp.description), "dialing": .bool(daemon)]) { _ in
                "bootstrap peer \(hp) added to souk.conf" + (daemon ? "; dialing it now" : "")
            }
        }
    }

    /// `souk peer remove`: drops a bootstrap peer from souk.conf (and its link, if connected).
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a bootstrap peer from souk.conf.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "HOST:PORT, as `souk peer add` took it") var address: String

        func run() async throws {
            let hp = try PeerCommand.edit(options, address, add: false)
            _ = try? options.call("peer.disconnect", ["target": .string(hp.description)])
            options.printResult(["removed": .string(hp.description)]) { _ in
                "bootstrap peer \(hp) removed from souk.conf"
            }
        }
    }

    /// Adds or removes the `bootstrap` line in the data dir's souk.conf, keeping every other line.
    static func edit(_ options: GlobalOptions, _ address: String, add: Bool) throws -> HostPort {
        guard let hp = HostPort(address) else {
            throw CLIError("address must be HOST:PORT or [IPv6]:PORT, got \"\(address)\"")
        }
        let dir = options.dataDir
        guard dir.exists else {
            throw CLIError("no data dir at \(dir.path) — run `souk init --datadir \(dir.path)` first")
        }
        let text = (try? String(contentsOfFile: dir.configFile, encoding: .utf8)) ?? ""
        let edited = NodeConfig.editingBootstrap(text, address: hp, add: add)
        guard edited.changed else {
            throw CLIError(
                add ? "\(hp) is already a bootstrap peer" : "\(hp) is not a bootstrap peer in \(dir.configFile)")
        }
        do {
            _ = try NodeConfig(parsing: edited.text)
            try edited.text.write(toFile: dir.configFile, atomically: true, encoding: .utf8)
        } catch {
            throw CLIError("cannot update \(dir.configFile): \(error)")
        }
        return hp
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connected peers with traffic counters.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let result = try options.call("peer.list")
            options.printResult(result) { r in
                let peers = r["peers"]?.arrayValue ?? []
                guard !peers.isEmpty else { return "no peers" }
                let rows = peers.map { p -> [String] in
                    [
                        String((p["node_id"]?.stringValue ?? "?").prefix(16)),
                        p["address"]?.stringValue ?? "",
                        p["direction"]?.stringValue ?? "",
                        p["eager"]?.boolValue == true ? "eager" : "lazy",
                        "\(p["bytes_in"]?.intValue ?? 0)",
                        "\(p["bytes_out"]?.intValue ?? 0)",
                        p["last_message"]?.stringValue ?? "",
                    ]
                }
                return Output.columns(["NODE", "ADDRESS", "DIR", "MODE", "IN", "OUT", "LAST"], rows)
            }
        }
    }

    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Dial a peer now and report the outcome: connected, refused (and why), or unreachable.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "HOST:PORT") var address: String

        func run() async throws {
            let r = try options.call("peer.connect", ["address": .string(address), "wait": true])
            options.printResult(r) { r in
                switch r["status"]?.stringValue {
                case "connected": return "connected to \(r["node_id"]?.stringValue ?? "?") at \(address)"
                default:
                    return "\(r["status"]?.stringValue ?? "failed"): \(r["reason"]?.stringValue ?? "") (\(address))"
                }
            }
            guard r["status"]?.stringValue == "connected" else { throw ExitCode(CLIError.Kind.refused.exitCode) }
        }
    }

    struct Disconnect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close links to a node id or HOST:PORT.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Node id or HOST:PORT") var target: String

        func run() async throws {
            let r = try options.call("peer.disconnect", ["target": .string(target)])
            options.printResult(r) { "disconnected \($0["disconnected"]?.intValue ?? 0) link(s)" }
        }
    }

    struct Ban: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ban a node id or IP address.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Node id or IP address") var target: String
        @Option(help: "Ban duration in seconds (default one day).") var seconds: Int = 86_400
        @Option(help: "Why, for the ban list.") var reason: String?

        func run() async throws {
            var p: [String: JSONValue] = ["target": .string(target), "seconds": .int(Int64(seconds))]
            if let reason { p["reason"] = .string(reason) }
            let r = try options.call("peer.ban", p)
            options.printResult(r) {
                "banned \($0["target"]?.stringValue ?? target) until \(Output.time($0["until"]))"
            }
        }
    }

    struct Unban: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a ban.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Node id or IP address") var target: String

        func run() async throws {
            let r = try options.call("peer.unban", ["target": .string(target)])
            options.printResult(r) {
                $0["removed"]?.boolValue == true ? "unbanned \(target)" : "\(target) was not banned"
            }
        }
    }

    struct Bans: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bans in force.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let r = try options.call("peer.bans")
            options.printResult(r) { r in
                let bans = r["bans"]?.arrayValue ?? []
                guard !bans.isEmpty else { return "no bans" }
                return Output.columns(
                    ["TARGET", "UNTIL", "REASON"],
                    bans.map {
                        [
                            $0["target"]?.stringValue ?? "", Output.time($0["until"]),
                            $0["reason"]?.stringValue ?? "",
                        ]
                    })
            }
        }
    }
}
