import ArgumentParser
import Foundation
import SoukRPC

/// `souk review`: review the other party of a settled trade, list and answer reviews.
struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Trade-backed reviews: write one after a settled trade, list them, reply to one about you.",
        subcommands: [Create.self, List.self, Reply.self], defaultSubcommand: List.self)

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Review the other party of a settled trade (published in your log; it carries the settlement proof).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The settled trade's id.") var tradeID: String
        @Option(help: "1 to 5.") var rating: Int
        @Option(help: "Sub-rating 1 to 5: as described.") var described: Int?
        @Option(help: "Sub-rating 1 to 5: communication.") var communication: Int?
        @Option(help: "Sub-rating 1 to 5: speed.") var speed: Int?
        @Option(help: "Up to 2000 characters.") var text: String = ""
        @Flag(help: "Review the trade's arbiter instead (only after a dispute).") var arbiter = false

        func run() async throws {
            var p: [String: JSONValue] = [
                "trade_id": .string(tradeID), "rating": .int(Int64(rating)), "text": .string(text),
                "arbiter": .bool(arbiter),
            ]
            if let described { p["described"] = .int(Int64(described)) }
            if let communication { p["communication"] = .int(Int64(communication)) }
            if let speed { p["speed"] = .int(Int64(speed)) }
            let r = try options.call("review.create", p)
            options.printResult(r) { r in
                "review published: log entry \(r["seq"]?.intValue ?? 0) (\(r["object_id"]?.stringValue ?? "?"))"
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reviews about a node (--subject) or by one (--author).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The reviewed node's id.") var subject: String?
        @Option(help: "The reviewing node's id.") var author: String?

        func run() async throws {
            var p: [String: JSONValue] = [:]
            if let subject { p["subject"] = .string(subject) }
            if let author { p["author"] = .string(author) }
            if p.isEmpty {
                throw CLIError("give --subject NODE_ID or --author NODE_ID", kind: .refused)
            }
            options.printResult(try options.call("review.list", p)) { r in
                let items = r["items"]?.arrayValue ?? []
                return items.isEmpty
                    ? "no reviews"
                    : items.map { v in
                        let stars = String(repeating: "*", count: Int(v["rating"]?.intValue ?? 0))
                        return
                            "\(Output.time(v["created_at"]))  \(stars.padding(toLength: 5, withPad: " ", startingAt: 0))  "
                            + "by \(v["author"]?.stringValue?.prefix(12) ?? "?") about \(v["subject"]?.stringValue?.prefix(12) ?? "?")"
                            + (v["after_dispute"]?.boolValue == true ? "  (after a dispute)" : "")
                            + "  review \(v["review_id"]?.stringValue ?? "")"
                    }.joined(separator: "\n")
            }
        }
    }

    struct Reply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reply once to a review about you.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The review's id.") var reviewID: String
        @Argument(help: "Your reply.") var text: String

        func run() async throws {
            let r = try options.call("review.reply", ["review_id": .string(reviewID), "text": .string(text)])
            options.printResult(r) { r in "reply published: log entry \(r["seq"]?.intValue ?? 0)" }
        }
    }
}

/// `souk reputation NODE_ID`: a node's score as this node sees it.
struct ReputationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reputation",
        abstract: "A node's score from your position in the network (trust-weighted reviews), --explain for why.")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The node id.") var nodeID: String
    @Flag(help: "List the reviews that count, the trust in each author and the path it comes by.") var explain = false

    func run() async throws {
        let r = try options.call("reputation.get", ["subject": .string(nodeID), "explain": .bool(explain)])
        options.printResult(r) { r in
            var lines: [String] = []
            let count = r["reviews"]?.intValue ?? 0
            if let score = r["score"]?.doubleValue {
                lines.append(
                    String(
                        format: "score %.2f of 5, confidence %.2f, from %d trade-backed review%@", score,
                        r["confidence"]?.doubleValue ?? 0, Int(count), count == 1 ? "" : "s"))
            } else {
                lines.append(
                    "\(r["label"]?.stringValue ?? "no score") (\(count) trade-backed review\(count == 1 ? "" : "s"))")
            }
            if r["forked"]?.boolValue == true { lines.append("WARNING: this node's log forked (its key signed twice)") }
            if let e = r["explain"] {
                lines.append(e["formula"]?.stringValue ?? "")
                for c in e["counted"]?.arrayValue ?? [] {
                    let path = (c["path"]?.arrayValue ?? []).compactMap { $0.stringValue?.prefix(8) }.joined(
                        separator: " → ")
                    lines.append(
                        String(
                            format: "  rating %.2f × trust %.6f  by %@  via %@", c["rating"]?.doubleValue ?? 0,
                            c["trust"]?.doubleValue ?? 0, String(c["author"]?.stringValue?.prefix(12) ?? "?"), path))
                }
                lines.append("  \(e["not_counted"]?.intValue ?? 0) review(s) by authors you have no trust path to")
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// `souk vouch NODE_ID`: say you trust someone you know (or take it back).
struct VouchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vouch", abstract: "Vouch for someone you know (an entry in your log), or --revoke it.")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The node id.") var nodeID: String
    @Option(help: "A short note.") var note: String = ""
    @Flag(help: "Take a vouch back.") var revoke = false

    func run() async throws {
        let r =
            revoke
            ? try options.call("vouch.revoke", ["node_id": .string(nodeID)])
            : try options.call("vouch.create", ["node_id": .string(nodeID), "note": .string(note)])
        options.printResult(r) { r in "\(revoke ? "revoked" : "vouched"): log entry \(r["seq"]?.intValue ?? 0)" }
    }
}

/// `souk log`: reputation logs.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Reputation logs: show one, verify every chain in the store.",
        subcommands: [Show.self, Verify.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A node's log (this node's by default).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The author's node id.") var author: String?

        func run() async throws {
            var p: [String: JSONValue] = [:]
            if let author { p["author"] = .string(author) }
            options.printResult(try options.call("log.get", p)) { r in
                var lines = ["log of \(r["author"]?.stringValue ?? "?"): \(r["head"]?.intValue ?? 0) entries"]
                if let f = r["forked_at"]?.intValue { lines.append("FORKED at entry \(f): frozen") }
                for e in r["entries"]?.arrayValue ?? [] {
                    lines.append(
                        "  \(e["seq"]?.intValue ?? 0)  \(Output.time(e["created_at"]))  \(e["type"]?.stringValue ?? "?")"
                            + (e["void_reason"]?.stringValue.map { "  [void: \($0)]" } ?? ""))
                }
                return lines.joined(separator: "\n")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-check every chain in the store (or one author's) and name the first broken entry.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Only this author's log.") var author: String?

        func run() async throws {
            var p: [String: JSONValue] = [:]
            if let author { p["author"] = .string(author) }
            let r = try options.call("log.verify", p)
            options.printResult(r) { r in
                var lines = [
                    "checked \(r["entries"]?.intValue ?? 0) entries of \(r["authors"]?.intValue ?? 0) logs: "
                        + (r["ok"]?.boolValue == true ? "every chain is intact" : "BROKEN")
                ]
                for b in r["broken"]?.arrayValue ?? [] {
                    lines.append(
                        "  \(b["author"]?.stringValue ?? "?") entry \(b["seq"]?.intValue ?? 0): \(b["reason"]?.stringValue ?? "")"
                    )
                }
                for f in r["forks"]?.arrayValue ?? [] {
                    lines.append("  forked: \(f["author"]?.stringValue ?? "?") at entry \(f["seq"]?.intValue ?? 0)")
                }
                return lines.joined(separator: "\n")
            }
            if r["ok"]?.boolValue == false { throw CLIError("a log chain is broken (see above)", kind: .failed) }
        }
    }
}
