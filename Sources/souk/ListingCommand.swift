import ArgumentParser
import SoukRPC

struct ListingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listing",
        abstract: "Create, change, retract and show listings.",
        subcommands: [Create.self, Update.self, Renew.self, Retract.self, Show.self, Mine.self])

    /// Fields shared by create and update.
    struct Fields: ParsableArguments {
        @Option(help: "Title, 1-140 characters.") var title: String?
        @Option(help: "Description, up to 8 KiB.") var description: String?
        @Option(parsing: .unconditional, help: "Price as a decimal, e.g. 120.00.") var price: String?
        @Option(help: "Currency code, e.g. EUR, USD, BTC, SAT.") var currency: String?
        @Option(help: "Category slug, e.g. bikes.") var category: String?
        @Option(help: "Location, free text, e.g. \"Berlin, DE\".") var location: String?
        @Option(help: "ISO 3166-1 alpha-2 country code, e.g. DE.") var country: String?
        @Option(help: "Quantity available.") var quantity: Int?
        @Option(help: "new, like-new, good, fair, poor, for-parts or n/a.") var condition: String?
        @Option(name: .customLong("tag"), help: "A tag (repeatable).") var tags: [String] = []
        @Option(help: "Days until the listing expires (1-30).") var expiresInDays: Int?

        /// The request parameters; refuses what the CLI can tell is wrong before asking the daemon.
        func checkedParams() throws -> [String: JSONValue] {
            if price?.hasPrefix("-") == true {
                throw CLIError("--price: negative prices are not allowed", kind: .refused)
            }
            return params
        }

        var params: [String: JSONValue] {
            var p: [String: JSONValue] = [:]
            if let v = title { p["title"] = .string(v) }
            if let v = description { p["description"] = .string(v) }
            if let v = price { p["price"] = .string(v) }
            if let v = currency { p["currency"] = .string(v) }
            if let v = category { p["category"] = .string(v) }
            if let v = location { p["location"] = .string(v) }
            if let v = country { p["country"] = .string(v) }
            if let v = quantity { p["quantity"] = .int(Int64(v)) }
            if let v = condition { p["condition"] = .string(v) }
            if !tags.isEmpty { p["tags"] = .array(tags.map(JSONValue.string)) }
            if let v = expiresInDays { p["expires_in_days"] = .int(Int64(v)) }
            return p
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign and publish a new listing.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var fields: Fields

        func run() async throws {
            var p = try fields.checkedParams()
            if p["currency"] == nil && p["price"] != nil { p["currency"] = "EUR" }
            let result = try options.call("listing.create", p)
            options.printResult(result) { Output.listing($0) }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish a new version of one of your listings.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The listing id.") var id: String
        @OptionGroup var fields: Fields

        func run() async throws {
            var p = try fields.checkedParams()
            p["listing_id"] = .string(id)
            if p["price"] != nil && p["currency"] == nil {
                // Keep the listing's currency when only the amount changes.
                let current = try options.call("listing.get", ["listing_id": .string(id)])
                p["currency"] = current["currency"] ?? "EUR"
            }
            let result = try options.call("listing.update", p)
            options.printResult(result) { Output.listing($0) }
        }
    }

    struct Retract: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a signed tombstone for one of your listings.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The listing id.") var id: String

        func run() async throws {
            let result = try options.call("listing.retract", ["listing_id": .string(id)])
            options.printResult(result) { "retracted \($0["listing_id"]?.stringValue ?? id)" }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one listing.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The listing id.") var id: String

        func run() async throws {
            let result = try options.call("listing.get", ["listing_id": .string(id)])
            options.printResult(result) { Output.listing($0) }
        }
    }

    struct Mine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List this node's own listings, active and expired (renew expired ones with `listing renew`).")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Only active listings.") var activeOnly = false
        @Option(help: "At most this many (1-1000, default 100).") var limit: Int?
        @Option(help: "Continue after a previous page (its `more: --cursor …`).") var cursor: String?

        func run() async throws {
            var p: [String: JSONValue] = ["include_expired": .bool(!activeOnly)]
            if let limit { p["limit"] = .int(Int64(limit)) }
            if let cursor { p["cursor"] = .string(cursor) }
            let result = try options.call("listing.mine", p)
            options.printResult(result) { r in
                var text = Output.table(r["listings"]?.arrayValue ?? [], status: true)
                if let next = r["next_cursor"]?.stringValue { text += "\nmore: --cursor \(next)" }
                return text
            }
        }
    }

    struct Renew: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish the next version of one of your listings, expired or not, with a new expiry.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The listing id.") var id: String
        @Option(help: "Days until it expires again (1-30, default 30).") var expiresInDays: Int?

        func run() async throws {
            var p: [String: JSONValue] = ["listing_id": .string(id)]
            if let expiresInDays { p["expires_in_days"] = .int(Int64(expiresInDays)) }
            let result = try options.call("listing.renew", p)
            options.printResult(result) { Output.listing($0) }
        }
    }
}
