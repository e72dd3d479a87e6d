import ArgumentParser
import Foundation
import SoukNode
import SoukRPC

/// `souk config show`: the effective configuration of a data dir and where each value comes from.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show the effective configuration.", subcommands: [Show.self],
        defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every setting's value and where it comes from (souk.conf line, or the default).",
            discussion:
                "Flags given to `souk daemon` override these for that run; `souk node info` shows the running daemon.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let dir = options.dataDir
            guard dir.exists else {
                throw CLIError("no data dir at \(dir.path) — run `souk init --datadir \(dir.path)` first")
            }
            let config: NodeConfig
            do { config = try NodeConfig.load(from: dir) } catch { throw CLIError("\(error)", kind: .refused) }
            let rows = config.effectiveValues.map { row in
                (
                    row.key, row.value,
                    config.sources[row.key].map {
                        "\(dir.configFile) \($0.replacingOccurrences(of: "souk.conf ", with: ""))"
                    } ?? "default"
                )
            }
            let json: JSONValue = [
                "datadir": .string(dir.path),
                "settings": .object(
                    Dictionary(
                        uniqueKeysWithValues: rows.map { ($0.0, ["value": .string($0.1), "source": .string($0.2)]) })),
            ]
            options.printResult(json) { _ in
                "data dir: \(dir.path)\n"
                    + Output.columns(["KEY", "VALUE", "FROM"], rows.map { [$0.0, $0.1.isEmpty ? "-" : $0.1, $0.2] })
            }
        }
    }
}
