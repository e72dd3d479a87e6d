import ArgumentParser
import SoukCore
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
        version: SoukVersion.string,
        subcommands: [
            InitCommand.self, DaemonCommand.self, ListingCommand.self, SearchCommand.self, NodeCommand.self,
            PeerCommand.self, ProfileCommand.self, StopCommand.self, RPCCommand.self,
        ]
    )

    /// Global options may come before the subcommand (`GlobalArguments.reorder`).
    static func main() async {
        await main(GlobalArguments.reorder(Array(CommandLine.arguments.dropFirst())))
    }
}
