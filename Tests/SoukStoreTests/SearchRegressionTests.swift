import SoukCore
import SoukCrypto
import SoukStore
import Testing

/// Search behaviour that once was wrong (found by these tests) and is now fixed: the text-search
/// bound keeps the newest by `created_at`, text cursors are stable while listings arrive, and a
/// filter-only "newest" search walks an index instead of sorting every match.
@Suite("search: ordering, cursor stability and plans")
struct SearchRegressionTests {
    let now = Fixture.now

    /// The work bound keeps the newest matches by `created_at` even when listings arrive out of order
    /// (catch-up sync, slow gossip): row ids follow `created_at`, and the bound walks row ids.
    @Test func boundKeepsNewestEvenWhenListingsArriveOutOfOrder() throws {
        let db = try SoukDatabase.inMemory()
        var newest: [String] = []
        for i in 0..<200 {  // arrival order is the reverse of created_at order
            let title = "Gizmo \(i)"
            let obj = try Fixture.listing(
                key: Fixture.key(7), salt: Fixture.salt(i), createdAt: now - UInt64(i) * 10 - 10, title: title)
            #expect(try db.apply(obj, now: now) == .inserted)
            newest.append(title)
        }
        let bounds = SoukDatabase.SearchBounds(maxCandidates: 50, timeBudget: .seconds(60))
        let page = try db.search(Fixture.query("gizmo", sort: .newest, limit: 100), now: now, bounds: bounds)
        #expect(page.truncated)
        #expect(page.hits.count == 50)
        #expect(Fixture.titles(page) == Array(newest.prefix(50)))
    }

    /// A listing stored between two page requests does not shift the pages: text cursors carry the
    /// first page's highest row id and later pages rank the same candidates; filter-only cursors are
    /// keyset cursors.
    @Test func paginationIsStableWhileListingsArrive() throws {
        let db = try SoukDatabase.inMemory()
        let key = Fixture.key(8)
        for i in 0..<30 {
            let obj = try Fixture.listing(
                key: key, salt: Fixture.salt(i), createdAt: now - 10_000 + UInt64(i) * 10, title: "Widget \(i)",
                category: "gadgets")
            #expect(try db.apply(obj, now: now) == .inserted)
        }
        let textQuery = Fixture.query("widget", sort: .newest, limit: 10)
        let filterQuery = Fixture.query(sort: .newest, limit: 10) { $0.category = "gadgets" }
        let textFirst = try db.search(textQuery, now: now)
        let filterFirst = try db.search(filterQuery, now: now)

        let late = try Fixture.listing(
            key: key, salt: Fixture.salt(100), createdAt: now - 5, title: "Widget late", category: "gadgets")
        #expect(try db.apply(late, now: now) == .inserted)

        var filterNext = filterQuery
        filterNext.cursor = filterFirst.nextCursor
        let filterSecond = try db.search(filterNext, now: now)
        #expect(Fixture.titles(filterSecond) == (10..<20).map { "Widget \(29 - $0)" })

        var textNext = textQuery
        textNext.cursor = textFirst.nextCursor
        let textSecond = try db.search(textNext, now: now)
        #expect(Set(Fixture.titles(textFirst)).isDisjoint(with: Fixture.titles(textSecond)))
        #expect(Fixture.titles(textSecond) == (10..<20).map { "Widget \(29 - $0)" })
    }

    /// With a currency + price filter and `newest`, the search walks `listings_category (category)`,
    /// whose entries are in row-id (= created_at) order within a category, instead of sorting every price match in a temp B-tree (work
    /// the time budget, checked between rows, could not cut short).
    @Test func filterOnlyNewestNeedsNoSortWhenAnIndexGivesTheOrder() throws {
        let db = try SoukDatabase.inMemory()
        for i in 0..<30 {
            let obj = try Fixture.listing(
                key: Fixture.key(9), salt: Fixture.salt(i), createdAt: now - 10_000 + UInt64(i), title: "Bike \(i)",
                price: UInt64(i) * 1_000, category: i % 2 == 0 ? "bikes" : "sofas", country: "DE")
            #expect(try db.apply(obj, now: now) == .inserted)
        }
        let marker = "ORDER BY l.rowid DESC LIMIT"
        let categoryOnly = try QueryPlan.of(db, Fixture.query(sort: .newest) { $0.category = "bikes" }, marker: marker)
        #expect(!categoryOnly.contains { $0.contains("TEMP B-TREE") }, "plan: \(categoryOnly)")

        let multi = Fixture.query(sort: .newest) {
            $0.category = "bikes"
            $0.country = "DE"
            $0.currency = Currency(code: "EUR")
            $0.maxPriceMinor = 20_000
        }
        #expect(
            Fixture.titles(try db.search(multi, now: now)) == stride(from: 20, through: 0, by: -2).map { "Bike \($0)" })
        let plan = try QueryPlan.of(db, multi, marker: marker)
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "plan: \(plan)")
    }
}
