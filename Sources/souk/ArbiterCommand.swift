import ArgumentParser
import Foundation
import SoukRPC

/// `souk arbiter`: publish this node's arbiter terms, list the arbiters this node knows.
struct ArbiterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arbiter",
        abstract: "Arbiters: publish your terms (run the daemon with --arbiter to serve), list known arbiters.",
        subcommands: [Register.self, List.self], defaultSubcommand: List.self)

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign and publish this node's arbiter profile (the next version).")
        @OptionGroup var options: GlobalOptions
        @Option(name: .customLong("name"), help: "Display name.") var displayName: String
        @Option(help: "Fee in basis points of the amount (100 = 1 %, at most 5000).") var feeBps: Int = 100
        @Option(
            help:
                "A currency you take, as CODE[:MIN_FEE[:MIN_AMOUNT[:MAX_AMOUNT]]] with decimal amounts, e.g. EUR:1.00:5.00:5000 (repeat)."
        )
        var currency: [String]
        @Option(help: "Language tag you arbitrate in (repeat).") var language: [String] = []
        @Option(help: "Your terms, in plain text.") var terms: String = ""
        @Option(help: "Hours within which you promise to acknowledge and answer (1-720).") var responseHours: Int = 24

        func run() async throws {
            let currencies: [JSONValue] = try currency.map { spec in
                let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                guard (1...4).contains(parts.count), !parts[0].isEmpty else {
                    throw CLIError(
                        "--currency wants CODE[:MIN_FEE[:MIN_AMOUNT[:MAX_AMOUNT]]], got \"\(spec)\"", kind: .refused)
                }
                var o: [String: JSONValue] = ["currency": .string(parts[0])]
                for (key, i) in [("min_fee", 1), ("min_amount", 2), ("max_amount", 3)]
                where i < parts.count && !parts[i].isEmpty {
                    o[key] = .string(parts[i])
                }
                return .object(o)
            }
            let r = try options.call(
                "arbiter.register",
                [
                    "display_name": .string(displayName), "fee_bps": .int(Int64(feeBps)),
                    "currencies": .array(currencies),
                    "languages": .array(language.map(JSONValue.string)), "terms": .string(terms),
                    "response_hours": .int(Int64(responseHours)),
                ])
            options.printResult(r, text: ArbiterCommand.render)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The arbiter profiles this node holds.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            options.printResult(try options.call("arbiter.list")) { r in
                let items = r["items"]?.arrayValue ?? []
                return items.isEmpty
                    ? "no arbiters known yet" : items.map(ArbiterCommand.render).joined(separator: "\n\n")
            }
        }
    }

    static func render(_ a: JSONValue) -> String {
        let currencies = (a["currencies"]?.arrayValue ?? []).map { c in
            "\(c["currency"]?.stringValue ?? "?") \(c["min_amount"]?.stringValue ?? "?")–\(c["max_amount"]?.stringValue ?? "?") "
                + "(min fee \(c["min_fee"]?.stringValue ?? "?"))"
        }
        let bps = a["fee_bps"]?.intValue ?? 0
        return [
            "arbiter:   \(a["display_name"]?.stringValue ?? "?")  \(a["node_id"]?.stringValue ?? "")",
            "fee:       \(Double(bps) / 100) %  — \(currencies.joined(separator: "; "))",
            "answers:   within \(a["response_hours"]?.intValue ?? 0) h; languages: "
                + ((a["languages"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")),
            "terms:     \(a["terms"]?.stringValue ?? "")",
        ].joined(separator: "\n")
    }
}

/// `souk msg`: chat with the other party of a listing or a trade, sealed and acknowledged.
struct MsgCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msg",
        abstract: "Messages between buyer and seller (and the arbiter in a dispute), about a listing or a trade.",
        subcommands: [Send.self, List.self, Block.self], defaultSubcommand: List.self)

    struct Target: ParsableArguments {
        @Option(help: "The trade the conversation is about.") var trade: String?
        @Option(help: "The listing the conversation is about (before an order).") var listing: String?
        @Option(help: "As the seller answering about a listing: the buyer's node id.") var to: String?

        func params() throws -> [String: JSONValue] {
            var p: [String: JSONValue] = [:]
            if let trade { p["trade_id"] = .string(trade) }
            if let listing { p["listing_id"] = .string(listing) }
            if let to { p["to"] = .string(to) }
            return p
        }
    }

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a message (--trade or --listing).")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target
        @Argument(help: "The message.") var text: String

        func run() async throws {
            guard target.trade != nil || target.listing != nil else {
                throw CLIError(
                    "say what the message is about: --trade TRADE_ID or --listing LISTING_ID", kind: .refused)
            }
            var p = try target.params()
            p["text"] = .string(text)
            let r = try options.call("msg.send", p)
            for w in r["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                FileHandleOutput.warn("Warning: \(w)")
            }
            options.printResult(r) { _ in "sent (it is delivered once the recipient's node acknowledges it)" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A conversation (--trade or --listing), or every conversation without them.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            let r = try options.call("msg.list", try target.params())
            options.printResult(r) { r in
                if let conversations = r["conversations"]?.arrayValue {
                    return conversations.isEmpty
                        ? "no conversations"
                        : conversations.map {
                            "\($0["conversation"]?.stringValue?.prefix(16) ?? "?")  \($0["messages"]?.intValue ?? 0) messages, last \(Output.time($0["last_at"]))"
                        }.joined(separator: "\n")
                }
                let items = r["items"]?.arrayValue ?? []
                return items.isEmpty
                    ? "no messages"
                    : items.map { m in
                        let who =
                            m["mine"]?.boolValue == true ? "you" : String(m["from"]?.stringValue?.prefix(12) ?? "?")
                        return "\(Output.time(m["created_at"]))  \(who): \(m["text"]?.stringValue ?? "")"
                    }.joined(separator: "\n")
            }
        }
    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Block a sender: its messages are dropped unread (--unblock to undo).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The sender's node id.") var nodeID: String
        @Flag(help: "Unblock instead.") var unblock = false

        func run() async throws {
            let r = try options.call("msg.block", ["node_id": .string(nodeID), "blocked": .bool(!unblock)])
            options.printResult(r) { _ in unblock ? "unblocked \(nodeID)" : "blocked \(nodeID)" }
        }
    }
}

/// Warnings go to stderr, so `--json` output on stdout stays one document.
enum FileHandleOutput {
    static func warn(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
