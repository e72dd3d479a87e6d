import ArgumentParser
import Foundation
import SoukCore
import SoukNode
import SoukRPC

@main
struct Souk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "souk",
        abstract: "A peer-to-peer marketplace node: signed listings, search, and a local JSON-RPC API.",
        discussion: """
            Run `souk init` once, then `souk daemon`. Every other command talks to the running daemon over
            JSON-RPC on 127.0.0.1, authenticated by the cookie file in the data dir.
            """,
        version: "\(SoukVersion.string) (commit \(BuildInfo.commit))",
        subcommands: [
            InitCommand.self, DaemonCommand.self, ListingCommand.self, SearchCommand.self, NodeCommand.self,
            PeerCommand.self, ProfileCommand.self, ArbiterCommand.self, TradeCommand.self, MsgCommand.self,
            ReviewCommand.self, ReputationCommand.self, VouchCommand.self, LogCommand.self,
            ConfigCommand.self, IdentityCommand.self, StopCommand.self, RPCCommand.self,
        ]
    )

    /// Global options may come before the subcommand (`GlobalArguments.reorder`); a `CLIError` exits
    /// with its kind's code, printed as JSON under `--json`.
    static func main() async {
        let arguments = GlobalArguments.reorder(Array(CommandLine.arguments.dropFirst()))
        // `souk help listing.search`: JSON-RPC methods have dots; commands do not.
        if arguments.count == 2, arguments[0] == "help", arguments[1].contains(".") {
            guard let text = MethodHelp.text(arguments[1]) else {
                FileHandle.standardError.write(
                    Data("Error: no JSON-RPC method \(arguments[1]) (`souk rpc rpc.discover` lists them)\n".utf8))
                Foundation.exit(CLIError.Kind.notFound.exitCode)
            }
            print(text)
            return
        }
        do {
            var command = try parseAsRoot(arguments)
            do {
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
            } catch let error as NodeError {
                // Node-layer failures outside a command's own handling (an unusable data dir, a bad
                // souk.conf) are one sentence too, and JSON under `--json`.
                throw CLIError(error.description)
            }
        } catch let error as CLIError {
            if arguments.contains("--json") {
                var o: [String: JSONValue] = [
                    "message": .string(error.description), "kind": .string(error.kind.rawValue),
                ]
                if let code = error.rpcCode { o["rpc_code"] = .int(Int64(code)) }
                FileHandle.standardError.write(Data((JSONValue.object(["error": .object(o)]).description + "\n").utf8))
            } else {
                FileHandle.standardError.write(Data("Error: \(error.description)\n".utf8))
            }
            Foundation.exit(error.kind.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}
