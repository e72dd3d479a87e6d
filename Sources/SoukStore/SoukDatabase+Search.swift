import Foundation
import GRDB
import SoukCore

extension SoukDatabase {
    /// Bounds on one search. A ranked query on a very common word must not take seconds, so a text
    /// search ranks at most `maxCandidates` of the newest matches, and any search stops scanning
    /// after `timeBudget`; both cases set `truncated` on the page.
    public struct SearchBounds: Sendable {
        public var maxCandidates: Int
        public var timeBudget: Duration
        public init(maxCandidates: Int = 2_000, timeBudget: Duration = .milliseconds(250)) {
            self.maxCandidates = maxCandidates
            self.timeBudget = timeBudget
        }
    }

    /// Searches unexpired, unretracted listings.
    /// - Throws: `StoreError.invalidCursor` for a cursor that does not belong to this kind of query.
    public func search(_ query: SearchQuery, now: UInt64, bounds: SearchBounds = SearchBounds()) throws -> SearchPage {
        let limit = max(1, min(query.limit, SearchQuery.maxLimit))
        var filters = ["l.expires_at > ?"]
        var args: [(any DatabaseValueConvertible)?] = [Int64(now)]
        if let c = query.category {
            filters.append("l.category = ?")
            args.append(c.lowercased())
        }
        if let c = query.currency {
            filters.append("l.currency = ?")
            args.append(c.code)
        }
        if let p = query.minPriceMinor {
            filters.append("l.price_minor >= ?")
            args.append(Int64(clamping: p))
        }
        if let p = query.maxPriceMinor {
            filters.append("l.price_minor <= ?")
            args.append(Int64(clamping: p))
        }
        if let c = query.country {
            filters.append("l.country = ?")
            args.append(c.uppercased())
        }
        if let s = query.seller {
            filters.append("l.seller = ?")
            args.append(s.data)
        }
        if let set = query.sellers {
            if set.isEmpty {
                filters.append("0")
            } else {
                filters.append("l.seller IN (\(Array(repeating: "?", count: set.count).joined(separator: ",")))")
                args += set.map { $0.data }
            }
        }
        if let c = query.condition {
            filters.append("l.condition = ?")
            args.append(Int64(c.rawValue))
        }
        if let loc = query.location, !loc.isEmpty {
            filters.append("l.location LIKE ? ESCAPE '\\'")
            let escaped = loc.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            args.append("%\(escaped)%")
        }
        if query.sort == .priceAsc || query.sort == .priceDesc, query.currency == nil {
            throw StoreError.priceSortNeedsCurrency
        }
        let deadline = ContinuousClock.now.advanced(by: bounds.timeBudget)
        let expression: String?
        do {
            expression = try query.ftsExpression()
        } catch {
            throw StoreError.invalidQuery(error.description)
        }
        if let fts = expression {
            return try textSearch(
                fts: fts, query: query, filters: filters, args: args, limit: limit, bounds: bounds, deadline: deadline)
        }
        return try filterSearch(query: query, filters: filters, args: args, limit: limit, deadline: deadline)
    }

    private func textSearch(
        fts: String, query: SearchQuery, filters: [String], args: [(any DatabaseValueConvertible)?], limit: Int,
        bounds: SearchBounds, deadline: ContinuousClock.Instant
    ) throws -> SearchPage {
        let cursor = try query.cursor.map { try SearchCursor(decoding: $0, expectedSort: query.sort) }
        let offset = cursor?.a ?? 0
        // Later pages rank the same candidates as the first: listings stored since then have higher
        // row ids (row ids follow created_at) and are left out, so offsets do not shift.
        let ceiling = cursor?.b ?? 0
        guard offset >= 0, ceiling >= 0 else { throw StoreError.invalidCursor }
        var filters = filters
        var args = args
        if ceiling > 0 {
            filters.append("listings_fts.rowid <= ?")
            args.append(ceiling)
        }
        struct Candidate {
            let rowid: Int64
            let score: Double
            let price: Int64
            let created: Int64
        }
        let (candidates, truncated, reason): ([Candidate], Bool, String?) = try writer.read { db in
            // Newest matches first, so the bound keeps the freshest listings. Column weights: title 10,
            // tags 4, category 4, description 1.
            let sql = """
                SELECT l.rowid AS rowid, -bm25(listings_fts, 10.0, 4.0, 4.0, 1.0) AS score, l.price_minor AS price,
                       l.created_at AS created
                FROM listings_fts JOIN listings l ON l.rowid = listings_fts.rowid
                WHERE listings_fts MATCH ? AND \(filters.joined(separator: " AND "))
                ORDER BY listings_fts.rowid DESC
                """
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments([fts] + args))
            var out: [Candidate] = []
            var reason: String?
            while let row = try cursor.next() {
                out.append(
                    Candidate(rowid: row["rowid"], score: row["score"], price: row["price"], created: row["created"]))
                if out.count >= bounds.maxCandidates {
                    if try cursor.next() != nil {
                        reason = "more than \(bounds.maxCandidates) listings match; only the newest were ranked"
                    }
                    break
                }
                if out.count % 64 == 0 && ContinuousClock.now >= deadline {
                    reason = "search time budget reached; only the newest \(out.count) matches were ranked"
                    break
                }
            }
            return (out, reason != nil, reason)
        }
        let sorted: [Candidate]
        switch query.sort {
        case .relevance: sorted = candidates.sorted { ($0.score, $0.rowid) > ($1.score, $1.rowid) }
        case .newest: sorted = candidates.sorted { ($0.created, $0.rowid) > ($1.created, $1.rowid) }
        case .priceAsc: sorted = candidates.sorted { ($0.price, $0.rowid) < ($1.price, $1.rowid) }
        case .priceDesc: sorted = candidates.sorted { ($0.price, $0.rowid) > ($1.price, $1.rowid) }
        }
        let start = min(Int(clamping: offset), sorted.count)
        let page = sorted[start..<min(start + limit, sorted.count)]
        let rows = try fetchRows(page.map(\.rowid))
        let hits = page.compactMap { c in rows[c.rowid].map { SearchPage.Hit(listing: $0, score: c.score) } }
        let snapshot = ceiling > 0 ? ceiling : (candidates.map(\.rowid).max() ?? 0)
        let next =
            start + limit < sorted.count
            ? SearchCursor(sort: query.sort, a: Int64(start + limit), b: snapshot).encoded : nil
        return SearchPage(hits: hits, nextCursor: next, truncated: truncated, truncationReason: reason)
    }

    private func filterSearch(
        query: SearchQuery, filters: [String], args: [(any DatabaseValueConvertible)?], limit: Int,
        deadline: ContinuousClock.Instant
    ) throws -> SearchPage {
        let sort = query.sort == .relevance ? SearchQuery.Sort.newest : query.sort
        // For "newest", keep the planner off the price index (unary `+` disables an index for a
        // term): walking an index in created_at order can stop at the time budget, while sorting
        // every price match first cannot.
        var filters =
            sort == .newest
            ? filters.map {
                $0.replacingOccurrences(of: "l.currency", with: "+l.currency")
                    .replacingOccurrences(of: "l.price_minor", with: "+l.price_minor")
            } : filters
        var args = args
        // Row ids follow created_at, so "newest" is row id order and needs no created_at index.
        let keyColumn = sort == .newest ? "l.rowid" : "l.price_minor"
        let order: String
        switch sort {
        case .priceAsc: order = "l.price_minor ASC, l.rowid ASC"
        case .priceDesc: order = "l.price_minor DESC, l.rowid DESC"
        case .newest, .relevance: order = "l.rowid DESC"
        }
        if let raw = query.cursor {
            let c = try SearchCursor(decoding: raw, expectedSort: query.sort)
            let op = sort == .priceAsc ? ">" : "<"
            filters.append("(\(keyColumn) \(op) ? OR (\(keyColumn) = ? AND l.rowid \(op) ?))")
            args += [c.a, c.a, c.b]
        }
        return try writer.read { db in
            let sql = """
                SELECT l.*, o.envelope FROM listings l JOIN objects o ON o.id = l.object_id
                WHERE \(filters.joined(separator: " AND ")) ORDER BY \(order) LIMIT ?
                """
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(args + [limit + 1]))
            var hits: [SearchPage.Hit] = []
            var keys: [(Int64, Int64)] = []
            var more = false
            var reason: String?
            while let row = try cursor.next() {
                if hits.count == limit {
                    more = true
                    break
                }
                keys.append((row[sort == .newest ? "rowid" : "price_minor"], row["rowid"]))
                hits.append(SearchPage.Hit(listing: try StoredListing(row: row), score: nil))
                if ContinuousClock.now >= deadline {
                    reason = "search time budget reached"
                    more = true
                    break
                }
            }
            let next =
                more && !keys.isEmpty
                ? SearchCursor(sort: query.sort, a: keys.last!.0, b: keys.last!.1).encoded : nil
            return SearchPage(hits: hits, nextCursor: next, truncated: reason != nil, truncationReason: reason)
        }
    }

    private func fetchRows(_ rowids: [Int64]) throws -> [Int64: StoredListing] {
        guard !rowids.isEmpty else { return [:] }
        return try writer.read { db in
            let marks = Array(repeating: "?", count: rowids.count).joined(separator: ",")
            var out: [Int64: StoredListing] = [:]
            for row in try Row.fetchAll(
                db, sql: "\(Self.listingSelect) WHERE l.rowid IN (\(marks))", arguments: StatementArguments(rowids))
            {
                out[row["rowid"]] = try StoredListing(row: row)
            }
            return out
        }
    }
}
