import GRDB
import SoukCore
import SoukCrypto
import Synchronization
import Testing

@testable import SoukStore

/// 200 listings that all match "gadget", inserted oldest first, with distinct prices.
@Suite("search: the work bound")
struct SearchBoundTests {
    let db: SoukDatabase
    let now = Fixture.now
    /// Titles newest first (by created_at, which here is also arrival order).
    let newestFirst: [String]
    let priceOf: [String: UInt64]

    static let small = SoukDatabase.SearchBounds(maxCandidates: 50, timeBudget: .seconds(60))

    init() throws {
        db = try SoukDatabase.inMemory()
        var titles: [String] = []
        var prices: [String: UInt64] = [:]
        for i in 0..<200 {
            let title = "Gadget \(i)"
            let price = UInt64((i * 37) % 200) * 10 + 10  // a permutation: all prices distinct
            let obj = try Fixture.listing(
                key: Fixture.key(UInt8(1 + i % 4)), salt: Fixture.salt(i), createdAt: now - 100_000 + UInt64(i) * 10,
                title: title, description: "A useful gadget.", price: price, category: "gadgets")
            #expect(try db.apply(obj, now: now) == .inserted)
            titles.append(title)
            prices[title] = price
        }
        newestFirst = titles.reversed()
        priceOf = prices
    }

    @Test func commonWordIsTruncatedToTheNewestMatches() throws {
        let page = try db.search(Fixture.query("gadget", sort: .newest, limit: 100), now: now, bounds: Self.small)
        #expect(page.truncated)
        let reason = try #require(page.truncationReason)
        #expect(reason.contains("50"))
        #expect(Fixture.titles(page) == Array(newestFirst.prefix(50)))
        #expect(page.nextCursor == nil)
    }

    @Test(arguments: [SearchQuery.Sort.relevance, .priceAsc, .priceDesc])
    func everySortRanksOnlyTheNewestMatches(sort: SearchQuery.Sort) throws {
        let page = try db.search(Fixture.query("gadget", sort: sort, limit: 100), now: now, bounds: Self.small)
        #expect(page.truncated)
        #expect(page.truncationReason != nil)
        let newest50 = Array(newestFirst.prefix(50))
        #expect(Set(Fixture.titles(page)) == Set(newest50))
        switch sort {
        case .priceAsc: #expect(Fixture.titles(page) == newest50.sorted { priceOf[$0]! < priceOf[$1]! })
        case .priceDesc: #expect(Fixture.titles(page) == newest50.sorted { priceOf[$0]! > priceOf[$1]! })
        default: break
        }
    }

    @Test func truncatedResultsPageWithoutDuplicates() throws {
        let pages = try Fixture.allPages(db, Fixture.query("gadget", sort: .priceAsc, limit: 20), bounds: Self.small)
        #expect(pages.map(\.hits.count) == [20, 20, 10])
        #expect(pages.allSatisfy { $0.truncated })
        let titles = pages.flatMap(Fixture.titles)
        #expect(Set(titles).count == 50)
        #expect(Set(titles) == Set(newestFirst.prefix(50)))
        #expect(pages.last?.nextCursor == nil)
    }

    @Test func boundEqualToTheMatchCountIsNotTruncation() throws {
        let exact = SoukDatabase.SearchBounds(maxCandidates: 200, timeBudget: .seconds(60))
        let page = try db.search(Fixture.query("gadget", sort: .newest, limit: 100), now: now, bounds: exact)
        #expect(!page.truncated)
        #expect(page.truncationReason == nil)
        #expect(page.nextCursor != nil)
        let oneLess = SoukDatabase.SearchBounds(maxCandidates: 199, timeBudget: .seconds(60))
        #expect(try db.search(Fixture.query("gadget"), now: now, bounds: oneLess).truncated)
        // The default bound (2 000) covers 200 matches.
        #expect(!(try db.search(Fixture.query("gadget"), now: now)).truncated)
    }

    @Test func filterOnlySearchIsNotCutByTheCandidateBound() throws {
        let pages = try Fixture.allPages(
            db, Fixture.query(sort: .newest, limit: 100) { $0.category = "gadgets" }, bounds: Self.small)
        #expect(pages.flatMap(Fixture.titles) == newestFirst)
        #expect(pages.allSatisfy { !$0.truncated })
    }

    @Test func timeBudgetTruncatesBothKindsOfSearch() throws {
        let noTime = SoukDatabase.SearchBounds(maxCandidates: 10_000, timeBudget: .zero)
        let text = try db.search(Fixture.query("gadget", sort: .newest, limit: 100), now: now, bounds: noTime)
        #expect(text.truncated)
        #expect(text.truncationReason?.contains("time") == true)
        #expect(text.hits.count > 0 && text.hits.count < 200)
        #expect(Fixture.titles(text) == Array(newestFirst.prefix(text.hits.count)))

        let filter = try db.search(
            Fixture.query(sort: .newest, limit: 100) { $0.category = "gadgets" }, now: now, bounds: noTime)
        #expect(filter.truncated)
        #expect(filter.truncationReason?.contains("time") == true)
        #expect(filter.hits.count >= 1 && filter.hits.count < 100)
        #expect(filter.nextCursor != nil)
    }

    /// The bound is only cheap if SQLite walks the FTS index in descending rowid order and stops
    /// early; a temp B-tree sort would read every match first.
    @Test func textSearchPlanWalksFTSRowidsDescending() throws {
        for configure in [
            { (_: inout SearchQuery) in }, { $0.category = "gadgets" }, { $0.seller = Fixture.key(1).publicKey },
        ]
            as [(inout SearchQuery) -> Void]
        {
            let plan = try QueryPlan.of(
                db, Fixture.query("gadget", sort: .newest, limit: 10, configure), marker: "listings_fts MATCH")
            #expect(plan.first?.hasPrefix("SCAN listings_fts") == true, "plan: \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "plan: \(plan)")
        }
    }
}

/// Captures the SQL a search runs (through a trace on the in-memory database's single connection)
/// and returns SQLite's EXPLAIN QUERY PLAN details for the statement containing `marker`.
enum QueryPlan {
    static func of(_ db: SoukDatabase, _ query: SearchQuery, now: UInt64 = Fixture.now, marker: String) throws
        -> [String]
    {
        let log = SQLLog()
        db.writer.writeWithoutTransaction { conn in
            conn.trace { event in log.append(event.expandedDescription) }
        }
        defer { db.writer.writeWithoutTransaction { $0.trace(options: []) } }
        _ = try db.search(query, now: now)
        let sql = try #require(log.all.first { $0.contains(marker) })
        return try db.writer.read { conn in
            try Row.fetchAll(conn, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }
        }
    }
}

/// Collects traced SQL from the database's connection.
final class SQLLog: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ s: String) { storage.withLock { $0.append(s) } }
    func clear() { storage.withLock { $0.removeAll() } }
    var all: [String] { storage.withLock { $0 } }
}
