import ArgumentParser
import SoukRPC

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Full-text search over listings with filters.")

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Words to find in title, description and tags.") var words: [String] = []
    @Option(help: "Category slug.") var category: String?
    @Option(help: "Currency for the price filters.") var currency: String?
    @Option(help: "Minimum price (needs --currency).") var minPrice: String?
    @Option(help: "Maximum price (needs --currency).") var maxPrice: String?
    @Option(help: "Substring of the location.") var location: String?
    @Option(help: "Country code.") var country: String?
    @Option(help: "Seller node id.") var seller: String?
    @Option(help: "Condition.") var condition: String?
    @Option(help: "relevance, price_asc, price_desc or newest.") var sort: String?
    @Option(help: "Results per page (1-100).") var limit: Int?
    @Option(help: "Cursor from a previous page.") var cursor: String?
    @Option(help: "Only sellers this node scores at least this (1-5; needs a trust path to their reviewers).")
    var minRating: Double?

    func run() async throws {
        var p: [String: JSONValue] = [:]
        if !words.isEmpty { p["query"] = .string(words.joined(separator: " ")) }
        let optional: [(String, String?)] = [
            ("category", category), ("currency", currency), ("min_price", minPrice), ("max_price", maxPrice),
            ("location", location), ("country", country), ("seller", seller), ("condition", condition),
            ("sort", sort), ("cursor", cursor),
        ]
        for (k, v) in optional { if let v { p[k] = .string(v) } }
        if let limit { p["limit"] = .int(Int64(limit)) }
        if let minRating { p["min_rating"] = .double(minRating) }
        let result = try options.call("listing.search", p)
        options.printResult(result) { r in
            var out = Output.table(r["results"]?.arrayValue ?? [])
            if r["truncated"]?.boolValue == true, let why = r["truncation_reason"]?.stringValue {
                out += "\n(partial results: \(why))"
            }
            if let next = r["next_cursor"]?.stringValue { out += "\nmore: --cursor \(next)" }
            return out
        }
    }
}
