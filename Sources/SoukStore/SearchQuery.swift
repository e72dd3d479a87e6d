public import SoukCore

/// A listing search: optional full-text words plus filters, a sort and a page.
public struct SearchQuery: Sendable, Equatable {
    public enum Sort: String, Sendable, CaseIterable {
        case relevance
        case priceAsc = "price_asc"
        case priceDesc = "price_desc"
        case newest
    }

    /// Free text (`SearchText`): words AND-ed, `OR`, "phrases", `prefix*`, synonyms, matched against
    /// title, tags, category and description.
    public var text: String = ""
    /// Compared case-insensitively (categories are lower-case slugs).
    public var category: String?
    /// Filters by currency; required for a price range, since prices are compared in minor units.
    public var currency: Currency?
    public var minPriceMinor: UInt64?
    public var maxPriceMinor: UInt64?
    /// Case-insensitive substring of the location text.
    public var location: String?
    /// Compared case-insensitively (countries are upper-case ISO codes).
    public var country: String?
    public var seller: [UInt8]?
    /// Only listings of these sellers (`min_rating`: the sellers this node scores high enough).
    public var sellers: [[UInt8]]?
    public var condition: ItemCondition?
    public var sort: Sort = .relevance
    public var limit: Int = 20
    public var cursor: String?

    public static let maxLimit = 100

    public init() {}

    /// The FTS5 expression for `text` (`SearchText`), `nil` when there is no text.
    /// - Throws: `SearchText.Failure` for text without a searchable word.
    public func ftsExpression() throws(SearchText.Failure) -> String? { try SearchText.expression(text) }
}

/// One page of search results.
public struct SearchPage: Sendable {
    public struct Hit: Sendable {
        public let listing: StoredListing
        /// BM25 relevance (higher is better) when the query had text.
        public let score: Double?
    }

    public var hits: [Hit]
    /// Pass back as `cursor` for the next page; `nil` on the last page.
    public var nextCursor: String?
    /// True when the work bound cut the search short: results come from the newest matches only.
    public var truncated: Bool
    /// Why the search was cut, for the response.
    public var truncationReason: String?
}

/// An opaque pagination cursor: `v1.<sort>.<a>.<b>` in base64url. For text searches (a, b) is
/// (offset into the ranked matches, ceiling: the highest row id the first page saw, so listings
/// stored since do not shift the pages); for filter-only searches it is the last (sort key, rowid).
struct SearchCursor: Equatable {
    var sort: SearchQuery.Sort
    var a: Int64
    var b: Int64

    var encoded: String {
        let raw = Array("v1.\(sort.rawValue).\(a).\(b)".utf8)
        return Base64URL.encode(raw)
    }

    init(sort: SearchQuery.Sort, a: Int64, b: Int64) {
        self.sort = sort
        self.a = a
        self.b = b
    }

    init(decoding s: String, expectedSort: SearchQuery.Sort) throws(StoreError) {
        guard s.utf8.count <= 128, let raw = Base64URL.decode(s), let text = String(validating: raw, as: UTF8.self)
        else { throw .invalidCursor }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let sort = SearchQuery.Sort(rawValue: String(parts[1])),
            sort == expectedSort, let a = Int64(parts[2]), let b = Int64(parts[3])
        else { throw .invalidCursor }
        self.init(sort: sort, a: a, b: b)
    }
}

/// URL-safe base64 without padding.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            var v: UInt32 = 0
            for j in 0..<3 { v = v << 8 | UInt32(j < n ? bytes[i + j] : 0) }
            for j in 0..<(n + 1) { out.append(alphabet[Int((v >> (18 - 6 * UInt32(j))) & 63)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ s: String) -> [UInt8]? {
        var values: [UInt8] = []
        for c in s.utf8 {
            guard let idx = alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt8(idx))
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < values.count {
            let n = min(4, values.count - i)
            var v: UInt32 = 0
            for j in 0..<4 { v = v << 6 | UInt32(j < n ? values[i + j] : 0) }
            for j in 0..<(n - 1) { out.append(UInt8((v >> (16 - 8 * UInt32(j))) & 0xff)) }
            i += 4
        }
        return out
    }
}
