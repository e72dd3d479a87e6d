import SoukCore
import SoukCrypto
import SoukStore
import Testing

/// Behaviour of Sources/SoukStore that these tests show to be wrong. Each failing expectation is
/// wrapped in `withKnownIssue` so the suite stays green; when the source is fixed, Swift Testing
/// reports the known issue as missing and the wrapper must be removed.
@Suite("KNOWN ISSUES in SoukStore search")
struct KnownIssueTests {
    let now = Fixture.now

    /// KNOWN ISSUE 1 (SoukDatabase+Search.swift, `textSearch`): the work bound keeps the matches with
    /// the highest *rowid* (latest stored), not the newest `created_at`. When listings arrive out of
    /// order (catch-up sync, slow gossip) a truncated search ranks the wrong ones: here the oldest 50.
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
        withKnownIssue("text-search bound orders candidates by rowid (arrival), not created_at") {
            #expect(Fixture.titles(page) == Array(newest.prefix(50)))
        }
    }

    /// KNOWN ISSUE 2 (SoukDatabase+Search.swift, `textSearch`): text-search cursors are offsets, so a
    /// listing stored between two page requests shifts the result list: the next page repeats the
    /// last hit of the previous one (or, with a deletion, skips one). Filter-only cursors are keyset
    /// cursors and are stable; that half is asserted without a known issue.
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
        withKnownIssue("text-search cursors are offsets into a result list that changes between requests") {
            #expect(Set(Fixture.titles(textFirst)).isDisjoint(with: Fixture.titles(textSecond)))
            #expect(Fixture.titles(textSecond) == (10..<20).map { "Widget \(29 - $0)" })
        }
    }

    /// KNOWN ISSUE 3 (SoukDatabase+Search.swift, `filterSearch`, and the schema's indexes): with a
    /// currency + price filter and `newest`, SQLite (no ANALYZE statistics) picks `listings_price` and
    /// sorts every match in a temp B-tree before the first row comes back, although
    /// `listings_category (category, created_at)` delivers the order directly. The time budget is
    /// only checked between rows, so it cannot cut this work short. The benchmark measures ~185 ms
    /// p50 for this query at 100k listings against < 1 ms for category alone.
    @Test func filterOnlyNewestNeedsNoSortWhenAnIndexGivesTheOrder() throws {
        let db = try SoukDatabase.inMemory()
        for i in 0..<30 {
            let obj = try Fixture.listing(
                key: Fixture.key(9), salt: Fixture.salt(i), createdAt: now - 10_000 + UInt64(i), title: "Bike \(i)",
                price: UInt64(i) * 1_000, category: i % 2 == 0 ? "bikes" : "sofas", country: "DE")
            #expect(try db.apply(obj, now: now) == .inserted)
        }
        let marker = "FROM listings l WHERE"
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
        withKnownIssue("planner sorts all currency/price matches instead of walking listings_category") {
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "plan: \(plan)")
        }
    }
}
