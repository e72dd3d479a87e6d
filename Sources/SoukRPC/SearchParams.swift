import SoukCore
import SoukCrypto
import SoukStore

/// `listing.search` parameters → `SearchQuery`.
enum SearchParams {
    static let names = [
        "query", "category", "currency", "min_price", "max_price", "location", "country", "seller", "condition",
        "sort", "limit", "cursor", "min_rating",
    ]

    static func query(_ p: RPCParams) throws(RPCError) -> SearchQuery {
        var q = SearchQuery()
        q.text = try p.optionalString("query") ?? ""
        guard q.text.utf8.count <= 1024 else { throw .invalidParams("query is over 1024 bytes", field: "query") }
        q.category = try p.optionalString("category")
        if let code = try p.optionalString("currency") {
            guard let c = Currency(code: code) else {
                throw .invalidParams("unknown currency \"\(code)\"", reason: "unknown_currency", field: "currency")
            }
            q.currency = c
        }
        for field in ["min_price", "max_price"] where p.has(field) {
            guard let currency = q.currency else {
                throw .invalidParams("\(field) needs currency: prices are compared within one currency", field: field)
            }
            let text = try p.string(field)
            let money: Money
            do {
                money = try Money(parsing: text, currency: currency)
            } catch {
                throw .invalidParams(error.message, reason: error.code.rawValue, field: field)
            }
            if field == "min_price" { q.minPriceMinor = money.minorUnits } else { q.maxPriceMinor = money.minorUnits }
        }
        q.location = try p.optionalString("location")
        q.country = try p.optionalString("country")
        if let s = try p.optionalString("seller") {
            guard let b = Hex.decode(s), b.count == 32 else {
                throw .invalidParams("seller must be 64 hex digits (a node id)", field: "seller")
            }
            q.seller = b
        }
        q.condition = try NodeRPC.condition(p)
        if let s = try p.optionalString("sort") {
            guard let sort = SearchQuery.Sort(rawValue: s) else {
                throw .invalidParams(
                    "sort must be one of \(SearchQuery.Sort.allCases.map(\.rawValue).joined(separator: ", "))",
                    field: "sort")
            }
            q.sort = sort
        }
        q.limit = Int(try p.optionalInt("limit", range: 1...Int64(SearchQuery.maxLimit)) ?? 20)
        q.cursor = try p.optionalString("cursor")
        return q
    }
}
