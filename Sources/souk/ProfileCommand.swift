import ArgumentParser
import SoukRPC

/// `souk profile`: this node's signed, gossiped profile, and anyone else's by node id.
struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Show or set a node profile (display name, addresses, mailboxes, accepted arbiters, languages).",
        subcommands: [Show.self, Set.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show this node's profile, or the profile of NODE_ID as this node holds it.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "A node id (64 hex digits); default: this node.") var nodeID: String?

        func run() async throws {
            var params: [String: JSONValue] = [:]
            if let nodeID { params["node_id"] = .string(nodeID) }
            let r = try options.call("profile.get", params)
            options.printResult(r, text: ProfileCommand.render)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign and publish the next version of this node's profile; unset fields keep their value.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .customLong("name"), help: "Display name, 1 to 64 characters.") var displayName: String?
        @Option(
            name: .customLong("address"), help: "HOST:PORT where this node accepts peers (repeat; replaces the list).")
        var addresses: [String] = []
        @Option(name: .customLong("mailbox"), help: "Node id of a mailbox node (repeat, at most 3; replaces the list).")
        var mailboxes: [String] = []
        @Option(
            name: .customLong("arbiter"), help: "Key of an accepted arbiter (repeat, at most 16; replaces the list).")
        var arbiters: [String] = []
        @Option(name: .customLong("language"), help: "Language tag such as en or de-CH (repeat; replaces the list).")
        var languages: [String] = []
        @Option(
            name: .customLong("avatar-hash"), help: "BLAKE2b-256 of an avatar image, 64 hex digits (\"\" removes it).")
        var avatarHash: String?
        @Flag(name: .customLong("clear-addresses"), help: "Publish no addresses.") var clearAddresses = false
        @Flag(name: .customLong("clear-mailboxes"), help: "Publish no mailbox nodes.") var clearMailboxes = false
        @Flag(name: .customLong("clear-arbiters"), help: "Accept no arbiters.") var clearArbiters = false
        @Flag(name: .customLong("clear-languages"), help: "Publish no languages.") var clearLanguages = false

        func run() async throws {
            var p: [String: JSONValue] = [:]
            if let displayName { p["display_name"] = .string(displayName) }
            if let avatarHash { p["avatar_hash"] = .string(avatarHash) }
            for (field, values, clear) in [
                ("addresses", addresses, clearAddresses), ("mailboxes", mailboxes, clearMailboxes),
                ("arbiters", arbiters, clearArbiters), ("languages", languages, clearLanguages),
            ] where !values.isEmpty || clear {
                p[field] = .array(values.map(JSONValue.string))
            }
            guard !p.isEmpty else {
                throw CLIError(
                    "nothing to set: give --name, --address, --mailbox, --arbiter, --language or --avatar-hash")
            }
            let r = try options.call("profile.set", p)
            options.printResult(r, text: ProfileCommand.render)
        }
    }

    static func render(_ r: JSONValue) -> String {
        func list(_ key: String) -> String {
            let items = r[key]?.arrayValue?.compactMap(\.stringValue) ?? []
            return items.isEmpty ? "-" : items.joined(separator: ", ")
        }
        return [
            "node id:    \(r["node_id"]?.stringValue ?? "?")",
            "name:       \(r["display_name"]?.stringValue ?? "")",
            "version:    \(r["version"]?.intValue ?? 0)",
            "addresses:  \(list("addresses"))",
            "mailboxes:  \(list("mailboxes"))",
            "arbiters:   \(list("arbiters"))",
            "languages:  \(list("languages"))",
            "avatar:     \(r["avatar_hash"]?.stringValue ?? "-")",
            "expires:    \(Output.time(r["expires_at"]))",
        ].joined(separator: "\n")
    }
}
