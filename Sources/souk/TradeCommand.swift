import ArgumentParser
import Foundation
import SoukRPC

/// `souk trade`: order, move and settle trades through this node (`Specs/trade.md`).
struct TradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trade",
        abstract: "Buy and sell: orders, payment claims, fulfilment, disputes and 2-of-3 settlement.",
        discussion:
            "A trade is between a buyer, a seller and an arbiter both accept. Every step is signed, sent sealed to the other parties and acknowledged by them; `souk trade show` prints the timeline and what you can do now, and by when. Money moves on the rail the order names; a settlement signed by two of the three is the instruction to act on.",
        subcommands: [
            Order.self, List.self, Show.self, StepCommand<AcceptMeta>.self, StepCommand<DeclineMeta>.self,
            StepCommand<CancelMeta>.self, StepCommand<AcknowledgeMeta>.self, StepCommand<PayMeta>.self,
            StepCommand<ConfirmMeta>.self, StepCommand<FulfilMeta>.self, StepCommand<ReceivedMeta>.self,
            StepCommand<DisputeMeta>.self, StepCommand<ExpireMeta>.self, Release.self, Propose.self, Sign.self,
            Resync.self, Proof.self, VerifyProof.self, Export.self,
        ], defaultSubcommand: List.self)

    struct Order: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Order a listing: signs the order and sends it to the seller and the arbiter.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The listing id (32 hex digits).") var listingID: String
        @Option(help: "How many (default 1).") var quantity: Int?
        @Option(help: "The payment rail: cash, bank-transfer, btc-multisig, … (free text).") var rail: String
        @Option(help: "Arbiter node id; default: the first the seller accepts that takes the trade.")
        var arbiter: String?
        @Option(help: "A fallback arbiter (another of the seller's), who may act if the arbiter lapses.")
        var fallbackArbiter: String?
        @Option(help: "Delivery address or a note for the seller: sent sealed, never shown in a proof.")
        var privateText: String?
        @Option(
            help:
                "Deadlines in seconds, e.g. accept=3600,payment=86400 (keys: accept, arbiter_ack, payment, confirmation, fulfilment, inspection, ruling)."
        )
        var deadlines: String?

        func run() async throws {
            var p: [String: JSONValue] = ["listing_id": .string(listingID), "rail": .string(rail)]
            if let quantity { p["quantity"] = .int(Int64(quantity)) }
            if let arbiter { p["arbiter"] = .string(arbiter) }
            if let fallbackArbiter { p["fallback_arbiter"] = .string(fallbackArbiter) }
            if let privateText { p["private_text"] = .string(privateText) }
            if let deadlines {
                var o: [String: JSONValue] = [:]
                for pair in deadlines.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2, let n = Int64(kv[1]) else {
                        throw CLIError("--deadlines wants name=seconds pairs, got \"\(pair)\"", kind: .refused)
                    }
                    o[kv[0]] = .int(n)
                }
                p["deadlines"] = .object(o)
            }
            options.printResult(try options.call("trade.order", p), text: TradeCommand.render)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Your trades, newest activity first; `*` marks those waiting for you.")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Only trades not yet settled, cancelled, declined or expired.") var open = false
        @Option(help: "At most this many (default 100).") var limit: Int?

        func run() async throws {
            var p: [String: JSONValue] = ["open_only": .bool(open)]
            if let limit { p["limit"] = .int(Int64(limit)) }
            options.printResult(try options.call("trade.list", p)) { r in
                let items = r["items"]?.arrayValue ?? []
                guard !items.isEmpty else { return "no trades" }
                return items.map { t in
                    let mark = t["needs_action"]?.boolValue == true ? "*" : " "
                    let id = String((t["trade_id"]?.stringValue ?? "").prefix(16))
                    let role = t["role"]?.stringValue ?? "-"
                    let phase = t["phase"]?.stringValue ?? "?"
                    let amount = "\(t["amount"]?.stringValue ?? "") \(t["currency"]?.stringValue ?? "")"
                    var line = "\(mark) \(id)  \(role.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                    line += "\(phase.padding(toLength: 20, withPad: " ", startingAt: 0)) \(amount)  "
                    line += t["title"]?.stringValue ?? ""
                    if let end = t["deadline"]?["end"], t["deadline"]?["passed"]?.boolValue == false {
                        line += "  (by \(Output.time(end)))"
                    }
                    if t["stalled"]?.boolValue == true { line += "  STALLED" }
                    return line
                }.joined(separator: "\n")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A trade's timeline, settlement, and what you can do now, and by when.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The trade id (64 hex digits).") var tradeID: String

        func run() async throws {
            options.printResult(
                try options.call("trade.get", ["trade_id": .string(tradeID)]), text: TradeCommand.render)
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Buyer: release the payment to the seller (the seller's node countersigns; the trade settles).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The trade id.") var tradeID: String

        func run() async throws {
            options.printResult(
                try options.call("trade.release", ["trade_id": .string(tradeID)]), text: TradeCommand.render)
        }
    }

    struct Propose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Sign a resolution: release, refund, or split (with --buyer-amount); it settles once a second party signs it."
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The trade id.") var tradeID: String
        @Argument(help: "release, refund or split.") var outcome: String
        @Option(help: "For a split: the buyer's part, a decimal in the trade's currency.") var buyerAmount: String?

        func run() async throws {
            var p: [String: JSONValue] = ["trade_id": .string(tradeID), "outcome": .string(outcome)]
            if let buyerAmount { p["buyer_amount"] = .string(buyerAmount) }
            options.printResult(try options.call("trade.propose", p), text: TradeCommand.render)
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Countersign the resolution another party proposed (name it by hash prefix when several are pending).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The trade id.") var tradeID: String
        @Option(help: "Hash prefix of the proposal to sign.") var resolution: String?

        func run() async throws {
            var p: [String: JSONValue] = ["trade_id": .string(tradeID)]
            if let resolution { p["resolution"] = .string(resolution) }
            options.printResult(try options.call("trade.sign", p), text: TradeCommand.render)
        }
    }

    struct Resync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resend what the other parties have not acknowledged and ask them for what this node lacks.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The trade id.") var tradeID: String

        func run() async throws {
            options.printResult(
                try options.call("trade.resync", ["trade_id": .string(tradeID)]), text: TradeCommand.render)
        }
    }

    struct Proof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the settlement proof of a settled trade (JSON; check it anywhere with verify-proof).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The trade id.") var tradeID: String

        func run() async throws {
            print(try options.call("trade.proof", ["trade_id": .string(tradeID)]).pretty)
        }
    }

    struct VerifyProof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-proof",
            abstract: "Check a settlement proof file offline (no daemon needed): signatures, parties, amounts.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The proof file (JSON from `souk trade proof`), or - for stdin.") var file: String

        func run() async throws {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: file) else {
                    throw CLIError("cannot read \(file)", kind: .notFound)
                }
                data = d
            }
            guard data.count <= 1_048_576 else { throw CLIError("\(file) is over 1 MiB: not a proof", kind: .refused) }
            let r: JSONValue
            do {
                r = try NodeRPC.verifyProof(json: [UInt8](data))
            } catch {
                throw CLIError(error.message.replacingOccurrences(of: "Invalid params: ", with: ""), kind: .refused)
            }
            options.printResult(r) { r in
                let res = r["resolution"]
                return [
                    "valid proof: trade \(r["trade_id"]?.stringValue ?? "?") on \(r["network"]?.stringValue ?? "?")",
                    "settled:     \(res?["outcome"]?.stringValue ?? "?") — buyer \(res?["buyer_amount"]?.stringValue ?? "?"), "
                        + "seller \(res?["seller_amount"]?.stringValue ?? "?"), arbiter \(res?["arbiter_fee"]?.stringValue ?? "?") "
                        + (r["currency"]?.stringValue ?? ""),
                    "signed by:   \(res?["signed_by"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " and ") ?? "?")",
                ].joined(separator: "\n")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Your trades and their reviews as CSV, for your own books (one row per trade).")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "CSV (the only format so far).") var csv = false

        func run() async throws {
            guard csv else { throw CLIError("say the format: souk trade export --csv", kind: .refused) }
            let me = try options.call("node.info")["node_id"]?.stringValue ?? ""
            var rows: [[String]] = [
                [
                    "trade_id", "role", "phase", "ordered_at", "title", "quantity", "amount", "currency", "rail",
                    "counterparty", "outcome", "buyer_amount", "seller_amount", "arbiter_fee", "rating_given",
                    "rating_received",
                ]
            ]
            var given: [String: Int64] = [:]
            var received: [String: Int64] = [:]
            for r in try options.call("review.list", ["author": .string(me), "limit": .int(1_000)])["items"]?
                .arrayValue ?? []
            {
                if let t = r["trade_id"]?.stringValue { given[t] = r["rating"]?.intValue }
            }
            for r in try options.call("review.list", ["subject": .string(me), "limit": .int(1_000)])["items"]?
                .arrayValue ?? []
            {
                if let t = r["trade_id"]?.stringValue { received[t] = r["rating"]?.intValue }
            }
            var offset: Int64 = 0
            while true {
                let page = try options.call("trade.list", ["limit": .int(1_000), "offset": .int(offset)])
                let items = page["items"]?.arrayValue ?? []
                for item in items {
                    guard let id = item["trade_id"]?.stringValue else { continue }
                    let t = try options.call("trade.get", ["trade_id": .string(id)])
                    let role = t["role"]?.stringValue ?? ""
                    let parties = t["parties"]
                    let other =
                        role == "buyer"
                        ? parties?["seller"]?.stringValue : role == "seller" ? parties?["buyer"]?.stringValue : nil
                    let s = t["settlement"]
                    let iso = ISO8601DateFormatter().string(
                        from: Date(timeIntervalSince1970: Double(t["ordered_at"]?.intValue ?? 0)))
                    rows.append([
                        id, role, t["phase"]?.stringValue ?? "", iso, t["title"]?.stringValue ?? "",
                        t["quantity"].flatMap { $0.intValue.map(String.init) } ?? "", t["amount"]?.stringValue ?? "",
                        t["currency"]?.stringValue ?? "", t["rail"]?.stringValue ?? "", other ?? "",
                        s?["outcome"]?.stringValue ?? "", s?["buyer_amount"]?.stringValue ?? "",
                        s?["seller_amount"]?.stringValue ?? "", s?["arbiter_fee"]?.stringValue ?? "",
                        given[id].map(String.init) ?? "", received[id].map(String.init) ?? "",
                    ])
                }
                guard let next = page["next_offset"]?.intValue else { break }
                offset = next
            }
            print(rows.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\n"))
        }

        /// RFC 4180: quote a field with a comma, quote or line break, doubling its quotes; a
        /// field starting with = + - @ gets a leading ' so a spreadsheet does not run it.
        static func csvField(_ s: String) -> String {
            var v = s
            if let first = v.first, "=+-@".contains(first) { v = "'" + v }
            guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
            return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }

    /// The text of a trade: header, timeline, settlement, what you can do now.
    static func render(_ t: JSONValue) -> String {
        var lines: [String] = []
        let role = t["role"]?.stringValue ?? "not a party"
        lines.append("trade \(t["trade_id"]?.stringValue ?? "?")  (\(t["network"]?.stringValue ?? ""))")
        lines.append(
            "  \(t["title"]?.stringValue ?? "?") — \(t["amount"]?.stringValue ?? "?") \(t["currency"]?.stringValue ?? "")"
                + (t["rail"]?.stringValue.map { " by \($0)" } ?? ""))
        lines.append("  you are the \(role); phase: \(t["phase"]?.stringValue ?? "?")")
        if let text = t["private_text"]?.stringValue { lines.append("  private: \(text)") }
        if let steps = t["steps"]?.arrayValue {
            lines.append("timeline:")
            for s in steps {
                var line =
                    "  \(Output.time(s["created_at"]))  \(s["role"]?.stringValue ?? "?") \(s["type"]?.stringValue ?? "?")"
                if let text = s["text"]?.stringValue, !text.isEmpty { line += ": \(text)" }
                if let why = s["void_reason"]?.stringValue { line += "  [does not count: \(why)]" }
                if let acks = s["delivered_to"]?.objectValue, !acks.isEmpty {
                    let pending = acks.values.filter { $0 == .null }.count
                    line += pending == 0 ? "  (delivered)" : "  (\(pending) of \(acks.count) not yet acknowledged)"
                }
                lines.append(line)
            }
        }
        if let s = t["settlement"], s != .null {
            lines.append(
                "settled: \(s["outcome"]?.stringValue ?? "?") — buyer \(s["buyer_amount"]?.stringValue ?? "?"), seller "
                    + "\(s["seller_amount"]?.stringValue ?? "?"), arbiter fee \(s["arbiter_fee"]?.stringValue ?? "?"); signed by "
                    + (s["signed_by"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " and ") ?? "?"))
        }
        if let c = t["conflict"], c != .null {
            lines.append(
                "CONFLICT: two different resolutions carry two signatures each; "
                    + "\(c["equivocators"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? "?") signed both. "
                    + "No rail should act on either until people decide.")
        }
        for p in t["proposals"]?.arrayValue ?? [] {
            lines.append(
                "proposed: \(p["outcome"]?.stringValue ?? "?") (\(String((p["hash"]?.stringValue ?? "").prefix(12)))) — buyer "
                    + "\(p["buyer_amount"]?.stringValue ?? "?"), seller \(p["seller_amount"]?.stringValue ?? "?"); signed by "
                    + (p["signed_by"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? "?"))
        }
        if let d = t["deadline"], d != .null {
            let passed = d["passed"]?.boolValue == true
            lines.append(
                "waiting for \(d["awaiting"]?.stringValue ?? "?") " + (passed ? "— the deadline passed " : "until ")
                    + Output.time(d["end"]) + "; then: \(d["default_exit"]?.stringValue ?? "?")")
        }
        if t["stalled"]?.boolValue == true {
            lines.append(
                "STALLED: the deadline and its default exit both lapsed; the proofs this node holds are above.")
        }
        let actions = t["next_actions"]?.arrayValue ?? []
        if !actions.isEmpty {
            lines.append("what you can do now:")
            for a in actions {
                let by = a["deadline"].flatMap { $0 == .null ? nil : " (by \(Output.time($0)))" } ?? ""
                let action = a["action"]?.stringValue ?? "?"
                let command =
                    action == "propose"
                    ? "propose ID release|refund|split" : "\(action.replacingOccurrences(of: "_", with: "-")) ID"
                lines.append("  souk trade \(command)  — \(a["note"]?.stringValue ?? "")\(by)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// The name, help and RPC method of one simple step command.
protocol StepMeta {
    static var name: String { get }
    static var method: String { get }
    static var abstract: String { get }
    /// The RPC parameter `--text` fills, if the step takes text.
    static var textField: String? { get }
}

struct StepCommand<Meta: StepMeta>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Meta.name, abstract: Meta.abstract)
    }
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The trade id (64 hex digits).") var tradeID: String
    @Option(name: .customLong("text"), help: "A reason, payment reference, tracking details or evidence.")
    var text: String?

    func run() async throws {
        var p: [String: JSONValue] = ["trade_id": .string(tradeID)]
        if let text {
            guard let field = Meta.textField else {
                throw CLIError("souk trade \(Meta.name) takes no --text", kind: .refused)
            }
            p[field] = .string(text)
        }
        options.printResult(try options.call(Meta.method, p), text: TradeCommand.render)
    }
}

enum AcceptMeta: StepMeta {
    static let name = "accept", method = "trade.accept", textField: String? = nil
    static let abstract = "Seller: accept the order (the arbiter acknowledges next)."
}
enum DeclineMeta: StepMeta {
    static let name = "decline", method = "trade.decline", textField: String? = "reason"
    static let abstract = "Seller: decline the order (before accepting it)."
}
enum CancelMeta: StepMeta {
    static let name = "cancel", method = "trade.cancel", textField: String? = "reason"
    static let abstract = "Buyer: cancel the order (until you claim payment)."
}
enum AcknowledgeMeta: StepMeta {
    static let name = "acknowledge", method = "trade.acknowledge", textField: String? = nil
    static let abstract = "Arbiter: agree to arbitrate this trade (no payment before it)."
}
enum PayMeta: StepMeta {
    static let name = "pay", method = "trade.pay", textField: String? = "reference"
    static let abstract = "Buyer: claim that you paid (--text: the rail's reference)."
}
enum ConfirmMeta: StepMeta {
    static let name = "confirm-payment", method = "trade.confirm_payment", textField: String? = nil
    static let abstract = "Seller: confirm the payment arrived."
}
enum FulfilMeta: StepMeta {
    static let name = "fulfil", method = "trade.fulfil", textField: String? = "details"
    static let abstract = "Seller: ship or hand over (--text: tracking details, sealed to the parties)."
}
enum ReceivedMeta: StepMeta {
    static let name = "received", method = "trade.received", textField: String? = nil
    static let abstract = "Buyer: say the goods arrived (then release, or dispute)."
}
enum DisputeMeta: StepMeta {
    static let name = "dispute", method = "trade.dispute", textField: String? = "evidence"
    static let abstract = "Buyer or seller: open a dispute with the arbiter (--text: what went wrong)."
}
enum ExpireMeta: StepMeta {
    static let name = "expire", method = "trade.expire", textField: String? = nil
    static let abstract = "Close an unpaid trade whose deadline passed."
}
