import SoukCore
import SoukCrypto
import SoukStore
import Testing

/// A small catalogue with one listing per interesting field value. Listing `i` is created at
/// `base + 60 i` and inserted in index order, so "newest" is descending index.
@Suite("search: filters, sorts, FTS syntax")
struct SearchTests {
    let db: SoukDatabase
    let alice = Fixture.key(1)
    let bob = Fixture.key(2)
    let now = Fixture.now

    static let titles = [
        "Red road bicycle",  // 0  25000 EUR bikes       Berlin Mitte       DE good       alice
        "Blue city bicycle",  // 1  12000 EUR bikes       Hamburg            DE fair       bob
        "Mountain bicycle 29 inch",  // 2  45000 USD bikes  Portland, OR       US like-new   alice
        "Oak dining table",  // 3  30000 EUR furniture   Paris 100% centre  FR good       bob
        "Pine bookshelf",  // 4   8000 EUR furniture   Lyon 1000          FR fair       alice
        "Vintage brass lamp",  // 5   4500 GBP furniture   London_East        GB poor       bob
        "Bicycle repair service",  // 6   2000 EUR services    LondonXEast        GB n/a        alice
        "Wooden chess set",  // 7   3000 EUR games       München            DE new        bob
        "Kids bicycle",  // 8  12000 EUR bikes       berlin             DE for-parts  bob
    ]

    init() throws {
        db = try SoukDatabase.inMemory()
        let base = now - 10_000
        let rows: [(String, UInt64, String, String, String, String, ItemCondition, SigningKeyChoice, [String])] = [
            (
                "Lightweight aluminium frame, 56 cm.", 25_000, "EUR", "bikes", "Berlin Mitte", "DE", .good, .alice,
                ["road"]
            ),
            ("Three gears, basket included.", 12_000, "EUR", "bikes", "Hamburg", "DE", .fair, .bob, []),
            ("Hydraulic brakes.", 45_000, "USD", "bikes", "Portland, OR", "US", .likeNew, .alice, ["mtb"]),
            ("Seats six.", 30_000, "EUR", "furniture", "Paris 100% centre", "FR", .good, .bob, []),
            ("Five shelves.", 8_000, "EUR", "furniture", "Lyon 1000", "FR", .fair, .alice, []),
            ("Works fine.", 4_500, "GBP", "furniture", "London_East", "GB", .poor, .bob, ["vintage"]),
            ("Any bicycle, any brand.", 2_000, "EUR", "services", "LondonXEast", "GB", .notApplicable, .alice, []),
            ("All pieces present.", 3_000, "EUR", "games", "München", "DE", .new, .bob, []),
            ("For ages 4 to 6.", 12_000, "EUR", "bikes", "berlin", "DE", .forParts, .bob, ["kids"]),
        ]
        for (i, r) in rows.enumerated() {
            let obj = try Fixture.listing(
                key: r.7 == .alice ? alice : bob, salt: Fixture.salt(i), createdAt: base + UInt64(i) * 60,
                title: Self.titles[i], description: r.0, price: r.1, currency: r.2, category: r.3, location: r.4,
                country: r.5, condition: r.6, tags: r.8)
            #expect(try db.apply(obj, now: now) == .inserted)
        }
    }

    enum SigningKeyChoice { case alice, bob }

    /// Titles of the catalogue entries at `indices`, for exact-order expectations.
    private func expected(_ indices: [Int]) -> [String] { indices.map { Self.titles[$0] } }

    private func run(_ q: SearchQuery) throws -> [String] { Fixture.titles(try db.search(q, now: now)) }

    // MARK: filters (filter-only queries default to newest first)

    @Test func noTextNoFilterReturnsEverythingNewestFirst() throws {
        #expect(try run(Fixture.query()) == expected([8, 7, 6, 5, 4, 3, 2, 1, 0]))
    }

    @Test func textFilter() throws {
        #expect(try run(Fixture.query("bicycle", sort: .newest)) == expected([8, 6, 2, 1, 0]))
        // Words are AND-ed and match title, description and tags.
        #expect(try run(Fixture.query("bicycle road", sort: .newest)) == expected([0]))
        #expect(try run(Fixture.query("basket")) == expected([1]))
        #expect(try run(Fixture.query("mtb")) == expected([2]))
        #expect(try run(Fixture.query("BICYCLE brakes")) == expected([2]))
        #expect(try run(Fixture.query("bicycle teapot")).isEmpty)
        // Location is a filter, not indexed text.
        #expect(try run(Fixture.query("munchen")).isEmpty)
        #expect(try run(Fixture.query("hamburg")).isEmpty)
    }

    @Test func categoryFilter() throws {
        #expect(try run(Fixture.query { $0.category = "bikes" }) == expected([8, 2, 1, 0]))
        #expect(try run(Fixture.query { $0.category = "furniture" }) == expected([5, 4, 3]))
        #expect(try run(Fixture.query { $0.category = "bike" }).isEmpty)
    }

    @Test func currencyFilter() throws {
        #expect(try run(Fixture.query { $0.currency = Currency(code: "EUR") }) == expected([8, 7, 6, 4, 3, 1, 0]))
        #expect(try run(Fixture.query { $0.currency = Currency(code: "GBP") }) == expected([5]))
        #expect(try run(Fixture.query { $0.currency = Currency(code: "JPY") }).isEmpty)
    }

    @Test func priceRangeFilter() throws {
        let eur = Currency(code: "EUR")
        #expect(
            try run(
                Fixture.query {
                    $0.currency = eur
                    $0.minPriceMinor = 10_000
                }) == expected([8, 3, 1, 0]))
        // Bounds are inclusive.
        #expect(
            try run(
                Fixture.query {
                    $0.currency = eur
                    $0.maxPriceMinor = 8_000
                }) == expected([7, 6, 4]))
        #expect(
            try run(
                Fixture.query {
                    $0.currency = eur
                    $0.minPriceMinor = 12_000
                    $0.maxPriceMinor = 25_000
                })
                == expected([8, 1, 0]))
        #expect(
            try run(
                Fixture.query {
                    $0.currency = eur
                    $0.minPriceMinor = 12_001
                    $0.maxPriceMinor = 24_999
                }
            ).isEmpty)
        #expect(
            try run(
                Fixture.query {
                    $0.currency = eur
                    $0.minPriceMinor = UInt64.max
                }
            ).isEmpty)
    }

    @Test func locationFilterIsACaseInsensitiveSubstring() throws {
        #expect(try run(Fixture.query { $0.location = "berlin" }) == expected([8, 0]))
        #expect(try run(Fixture.query { $0.location = "BERLIN" }) == expected([8, 0]))
        #expect(try run(Fixture.query { $0.location = "mitte" }) == expected([0]))
        #expect(try run(Fixture.query { $0.location = "Portland, OR" }) == expected([2]))
        #expect(try run(Fixture.query { $0.location = "nowhere" }).isEmpty)
    }

    @Test func locationWildcardCharactersAreLiteral() throws {
        // Unescaped, "100%" would also match "Lyon 1000" and "n_E" would also match "LondonXEast".
        #expect(try run(Fixture.query { $0.location = "100%" }) == expected([3]))
        #expect(try run(Fixture.query { $0.location = "%" }) == expected([3]))
        #expect(try run(Fixture.query { $0.location = "n_E" }) == expected([5]))
        #expect(try run(Fixture.query { $0.location = "_" }) == expected([5]))
        #expect(try run(Fixture.query { $0.location = "%_" }).isEmpty)
        #expect(try run(Fixture.query { $0.location = "\\" }).isEmpty)
        #expect(try run(Fixture.query { $0.location = "London" }) == expected([6, 5]))
        // An empty location is no filter.
        #expect(try run(Fixture.query { $0.location = "" }).count == 9)
    }

    @Test func countryFilter() throws {
        #expect(try run(Fixture.query { $0.country = "DE" }) == expected([8, 7, 1, 0]))
        #expect(try run(Fixture.query { $0.country = "GB" }) == expected([6, 5]))
        // Compared case-insensitively: country codes are upper-case in the signed listing.
        #expect(try run(Fixture.query { $0.country = "de" }) == expected([8, 7, 1, 0]))
    }

    @Test func sellerFilter() throws {
        #expect(try run(Fixture.query { $0.seller = alice.publicKey }) == expected([6, 4, 2, 0]))
        #expect(try run(Fixture.query { $0.seller = bob.publicKey }) == expected([8, 7, 5, 3, 1]))
        #expect(try run(Fixture.query { $0.seller = Fixture.key(9).publicKey }).isEmpty)
    }

    @Test func conditionFilter() throws {
        #expect(try run(Fixture.query { $0.condition = .good }) == expected([3, 0]))
        #expect(try run(Fixture.query { $0.condition = .notApplicable }) == expected([6]))
        #expect(try run(Fixture.query { $0.condition = .likeNew }) == expected([2]))
    }

    @Test func filtersCombine() throws {
        #expect(try run(Fixture.query("bicycle", sort: .newest) { $0.category = "bikes" }) == expected([8, 2, 1, 0]))
        #expect(try run(Fixture.query("bicycle", sort: .newest) { $0.country = "DE" }) == expected([8, 1, 0]))
        #expect(
            try run(
                Fixture.query("bicycle", sort: .newest) {
                    $0.currency = Currency(code: "EUR")
                    $0.maxPriceMinor = 12_000
                }) == expected([8, 6, 1]))
        #expect(
            try run(
                Fixture.query("bicycle") {
                    $0.seller = bob.publicKey
                    $0.condition = .fair
                }) == expected([1]))
        #expect(
            try run(
                Fixture.query {
                    $0.category = "bikes"
                    $0.location = "berlin"
                    $0.condition = .good
                }) == expected([0]))
        #expect(try run(Fixture.query("lamp") { $0.location = "_" }) == expected([5]))
        #expect(try run(Fixture.query("lamp") { $0.country = "DE" }).isEmpty)
    }

    // MARK: sorts

    @Test func sortsOfAFilterOnlyQuery() throws {
        // Prices: 0=25000, 1=12000, 2=45000 (USD), 8=12000; the tie is broken by insertion order.
        let bikes: (SearchQuery.Sort) -> SearchQuery = { s in Fixture.query(sort: s) { $0.category = "bikes" } }
        // Prices sort within one currency (EUR here): the USD bicycle is not mixed in.
        #expect(try run(bikes(.priceAsc)) == expected([1, 8, 0]))
        #expect(try run(bikes(.priceDesc)) == expected([0, 8, 1]))
        #expect(try run(bikes(.newest)) == expected([8, 2, 1, 0]))
        // Without text there is no relevance: newest first, and no score.
        let page = try db.search(bikes(.relevance), now: now)
        #expect(Fixture.titles(page) == expected([8, 2, 1, 0]))
        #expect(page.hits.allSatisfy { $0.score == nil })
    }

    @Test func sortsOfATextQuery() throws {
        // "bicycle" matches 0, 1, 2, 6, 8.
        #expect(try run(Fixture.query("bicycle", sort: .priceAsc)) == expected([6, 1, 8, 0]))
        #expect(try run(Fixture.query("bicycle", sort: .priceDesc)) == expected([0, 8, 1, 6]))
        #expect(try run(Fixture.query("bicycle", sort: .newest)) == expected([8, 6, 2, 1, 0]))
        let page = try db.search(Fixture.query("bicycle", sort: .priceAsc), now: now)
        #expect(page.hits.allSatisfy { $0.score != nil })
        #expect(page.truncated == false)
        #expect(page.truncationReason == nil)
        #expect(page.nextCursor == nil)
    }

    @Test func relevanceRanksTitleOverDescriptionAndShortOverLong() throws {
        let db = try SoukDatabase.inMemory()
        let k = Fixture.key(5)
        let docs: [(String, String)] = [
            ("Garage sale", "Includes a tandem and other things."),  // description only: lowest
            ("Tandem with basket, bell, lights and a spare tyre", "Fine."),  // title, long
            ("Tandem", "Fine."),  // title, short: highest
            ("Sofa", "Grey."), ("Desk", "Oak."), ("Chair", "Red."), ("Kettle", "Steel."), ("Radio", "Old."),
        ]
        for (i, d) in docs.enumerated() {
            let obj = try Fixture.listing(
                key: k, salt: Fixture.salt(100 + i), createdAt: now - 1_000 + UInt64(i), title: d.0, description: d.1)
            #expect(try db.apply(obj, now: now) == .inserted)
        }
        let page = try db.search(Fixture.query("tandem", sort: .relevance), now: now)
        #expect(Fixture.titles(page) == ["Tandem", "Tandem with basket, bell, lights and a spare tyre", "Garage sale"])
        let scores = page.hits.compactMap(\.score)
        #expect(scores.count == 3)
        #expect(scores[0] > scores[1] && scores[1] > scores[2])
        // Tags weigh more than the description.
        let tagged = try Fixture.listing(
            key: k, salt: Fixture.salt(200), createdAt: now - 2_000, title: "Bundle", description: "Fine.",
            tags: ["tandem"])
        #expect(try db.apply(tagged, now: now) == .inserted)
        let again = Fixture.titles(try db.search(Fixture.query("tandem"), now: now))
        #expect(again.firstIndex(of: "Bundle")! < again.firstIndex(of: "Garage sale")!)
    }

    // MARK: hostile text

    @Test(arguments: [
        "\"", "\"\"", "\"bicycle", "bicycle\"", "*", "bicy*", "OR", "bicycle OR lamp", "NEAR(", "NEAR(bicycle lamp)",
        "-", "-bicycle", "bicycle -red", "^bicycle", "title:bicycle", "(", ")", "AND", "NOT bicycle", "{title}: x",
        "'; DROP TABLE listings; --", "\u{0}", "🚲", String(repeating: "bicycle ", count: 100),
    ])
    func ftsSyntaxInTextDoesNotError(text: String) throws {
        // Text without any word is refused with a clear error; anything else is searched as words.
        let wordless = ["\"", "\"\"", "*", "OR", "-", "(", ")", "\u{0}", "🚲"].contains(text)
        for sort in SearchQuery.Sort.allCases {
            do {
                _ = try db.search(Fixture.query(text, sort: sort), now: now)
                #expect(!wordless, "\(text) has no word and must be refused")
            } catch StoreError.invalidQuery {
                #expect(wordless, "\(text) has words and must be searched")
            }
        }
        #expect(try db.counts(now: now).listings == 9)
    }

    @Test func queryLanguageOverTheCatalogue() throws {
        // Punctuation only separates words; OR, "phrases" and prefix* are the only operators.
        #expect(try run(Fixture.query("-bicycle", sort: .newest)) == expected([8, 6, 2, 1, 0]))
        #expect(try run(Fixture.query("\"bicycle\"", sort: .newest)) == expected([8, 6, 2, 1, 0]))
        #expect(try run(Fixture.query("bicyc*", sort: .newest)) == expected([8, 6, 2, 1, 0]))
        // A prefix goes through the stemmer too: "bicy" becomes "bici", which no stem starts with.
        #expect(try run(Fixture.query("bicy*", sort: .newest)).isEmpty)
        #expect(try run(Fixture.query("bicycle OR lamp", sort: .newest)) == expected([8, 6, 5, 2, 1, 0]))
        #expect(try run(Fixture.query("NEAR(bicycle")).isEmpty, "near is a word no listing has")
        #expect(try run(Fixture.query("title:lamp")).isEmpty, "title is a word no listing has")
        // Symbols only: no word at all is refused, never "everything".
        for text in ["*", "🚲"] {
            #expect(throws: StoreError.self) { try db.search(Fixture.query(text), now: now) }
        }
    }
}
