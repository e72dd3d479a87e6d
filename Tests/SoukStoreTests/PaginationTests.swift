import SoukCore
import SoukCrypto
import SoukStore
import Testing

/// 50 live "widget" listings with tied prices and tied creation times, plus non-matching and
/// expired ones, paged 10 at a time.
@Suite("search: pagination and cursors")
struct PaginationTests {
    let db: SoukDatabase
    let now = Fixture.now
    /// Searched after the short-lived widgets expired.
    var searchTime: UInt64 { now + 1_000 }

    struct Item {
        let index: Int
        let title: String
        let price: UInt64
        let created: UInt64
    }

    /// The live widgets in insertion (rowid) order.
    let widgets: [Item]

    init() throws {
        db = try SoukDatabase.inMemory()
        let keys = [Fixture.key(1), Fixture.key(2), Fixture.key(3)]
        var widgets: [Item] = []
        for i in 0..<60 {
            let key = keys[i % 3]
            let created = now - 50_000 + UInt64(i / 3) * 60  // groups of three share a created_at
            let price = UInt64(i % 7) * 100 + 100  // many ties
            let kind = i % 12
            let obj: VerifiedObject
            if kind == 5 {  // not a widget: other words, other category
                obj = try Fixture.listing(
                    key: key, salt: Fixture.salt(i), createdAt: created, title: "Sprocket \(i)", price: price,
                    category: "parts")
            } else if kind == 9 {  // a widget that expires before the search
                obj = try Fixture.listing(
                    key: key, salt: Fixture.salt(i), createdAt: created, expiresAt: now + 10,
                    title: "Widget expired \(i)",
                    price: price, category: "gadgets")
            } else {
                obj = try Fixture.listing(
                    key: key, salt: Fixture.salt(i), createdAt: created, title: "Widget number \(i)",
                    description: i % 2 == 0 ? "A widget." : "Plain.", price: price, category: "gadgets")
                widgets.append(Item(index: i, title: "Widget number \(i)", price: price, created: created))
            }
            #expect(try db.apply(obj, now: now) == .inserted)
        }
        self.widgets = widgets
        #expect(widgets.count == 50)
    }

    private func expectedOrder(_ sort: SearchQuery.Sort) -> [String] {
        let sorted: [Item]
        switch sort {
        case .priceAsc: sorted = widgets.sorted { ($0.price, $0.index) < ($1.price, $1.index) }
        case .priceDesc: sorted = widgets.sorted { ($0.price, $0.index) > ($1.price, $1.index) }
        case .newest, .relevance: sorted = widgets.sorted { ($0.created, $0.index) > ($1.created, $1.index) }
        }
        return sorted.map(\.title)
    }

    private func checkPages(_ pages: [SearchPage], expected: [String]) {
        let titles = pages.flatMap(Fixture.titles)
        #expect(titles == expected)
        #expect(Set(titles).count == titles.count, "no duplicates")
        #expect(pages.count == 5)
        #expect(pages.dropLast().allSatisfy { $0.hits.count == 10 && $0.nextCursor != nil })
        #expect(pages.last?.nextCursor == nil)
        #expect(pages.allSatisfy { !$0.truncated })
    }

    @Test(arguments: SearchQuery.Sort.allCases)
    func filterOnlyPagination(sort: SearchQuery.Sort) throws {
        let q = Fixture.query(sort: sort, limit: 10) { $0.category = "gadgets" }
        checkPages(try Fixture.allPages(db, q, now: searchTime), expected: expectedOrder(sort))
    }

    @Test(arguments: [SearchQuery.Sort.newest, .priceAsc, .priceDesc])
    func textPagination(sort: SearchQuery.Sort) throws {
        let q = Fixture.query("widget", sort: sort, limit: 10)
        checkPages(try Fixture.allPages(db, q, now: searchTime), expected: expectedOrder(sort))
    }

    @Test func textPaginationByRelevanceMatchesOneBigPage() throws {
        let all = try db.search(Fixture.query("widget", limit: 100), now: searchTime)
        #expect(all.hits.count == 50)
        #expect(all.nextCursor == nil)
        let scores = all.hits.compactMap(\.score)
        #expect(zip(scores, scores.dropFirst()).allSatisfy { $0 >= $1 }, "scores are non-increasing")
        checkPages(
            try Fixture.allPages(db, Fixture.query("widget", limit: 10), now: searchTime), expected: Fixture.titles(all)
        )
    }

    @Test func pageSizeIsClampedToTheMaximum() throws {
        let big = try db.search(Fixture.query(limit: 10_000) { $0.category = "gadgets" }, now: searchTime)
        #expect(big.hits.count == 50)
        let zero = try db.search(Fixture.query(limit: 0) { $0.category = "gadgets" }, now: searchTime)
        #expect(zero.hits.count == 1)
        #expect(zero.nextCursor != nil)
        let textZero = try db.search(Fixture.query("widget", limit: -3), now: searchTime)
        #expect(textZero.hits.count == 1)
    }

    @Test func exactlyOneFullPageHasNoNextCursor() throws {
        let q = Fixture.query("widget", sort: .newest, limit: 50)
        let page = try db.search(q, now: searchTime)
        #expect(page.hits.count == 50)
        #expect(page.nextCursor == nil)
        let f = try db.search(Fixture.query(sort: .newest, limit: 50) { $0.category = "gadgets" }, now: searchTime)
        #expect(f.hits.count == 50)
        #expect(f.nextCursor == nil)
    }

    // MARK: invalid cursors

    private func expectInvalidCursor(_ q: SearchQuery, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: StoreError.self, sourceLocation: sourceLocation) {
            try db.search(q, now: searchTime)
        }
        guard case .invalidCursor = error else {
            Issue.record("expected invalidCursor, got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
    }

    @Test(arguments: [
        "", "garbage!", "not base64 at all", "A", String(repeating: "A", count: 200),
        Fixture.base64url("v2.newest.1.2"), Fixture.base64url("v1.newest.1"), Fixture.base64url("v1.newest.1.2.3"),
        Fixture.base64url("v1.newest.abc.2"), Fixture.base64url("v1.oldest.1.2"), Fixture.base64url("v1..1.2"),
    ])
    func malformedCursorIsRefused(cursor: String) {
        for text in ["", "widget"] {
            expectInvalidCursor(Fixture.query(text, sort: .newest, limit: 10) { $0.cursor = cursor })
        }
    }

    @Test func negativeTextOffsetIsRefused() {
        expectInvalidCursor(
            Fixture.query("widget", sort: .relevance) { $0.cursor = Fixture.base64url("v1.relevance.-5.0") })
    }

    @Test func cursorFromAnotherSortIsRefused() throws {
        let filterCursor = try #require(
            try db.search(Fixture.query(sort: .newest, limit: 10) { $0.category = "gadgets" }, now: searchTime)
                .nextCursor)
        for sort in [SearchQuery.Sort.priceAsc, .priceDesc, .relevance] {
            expectInvalidCursor(
                Fixture.query(sort: sort, limit: 10) {
                    $0.category = "gadgets"
                    $0.cursor = filterCursor
                })
        }
        let textCursor = try #require(try db.search(Fixture.query("widget", limit: 10), now: searchTime).nextCursor)
        for sort in [SearchQuery.Sort.priceAsc, .priceDesc, .newest] {
            expectInvalidCursor(Fixture.query("widget", sort: sort, limit: 10) { $0.cursor = textCursor })
        }
        // The cursor still works with its own sort.
        let ok = try db.search(Fixture.query("widget", limit: 10) { $0.cursor = textCursor }, now: searchTime)
        #expect(ok.hits.count == 10)
    }

    @Test func textMatchingIgnoresDiacritics() throws {
        let obj = try Fixture.listing(key: Fixture.key(4), salt: Fixture.salt(999), title: "Café crème machine")
        #expect(try db.apply(obj, now: now) == .inserted)
        #expect(Fixture.titles(try db.search(Fixture.query("cafe creme"), now: searchTime)) == ["Café crème machine"])
        #expect(Fixture.titles(try db.search(Fixture.query("CAFÉ"), now: searchTime)) == ["Café crème machine"])
    }
}
