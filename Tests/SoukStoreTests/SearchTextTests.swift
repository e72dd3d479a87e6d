import SoukCore
import Testing

@testable import SoukStore

@Suite("Search that finds what people type")
struct SearchTextTests {
    let now = Fixture.now

    @Test("the query language: words AND-ed, OR, phrases, prefixes, synonyms; no FTS syntax leaks through")
    func expressions() throws {
        #expect(try SearchText.expression("") == nil)
        #expect(try SearchText.expression("   ") == nil)
        #expect(try SearchText.expression("road bike") == #""road" AND ("bike" OR "bicycle" OR "cycle")"#)
        #expect(
            try SearchText.expression("bicycle OR helmet") == #"(("bicycle" OR "bike" OR "cycle") OR "helmet")"#)
        #expect(try SearchText.expression("\"road bike\" steel") == #""road bike" AND "steel""#)
        #expect(try SearchText.expression("bik* lamp") == #""bik"* AND "lamp""#)
        #expect(try SearchText.expression("b* Lamp") == #""b" AND "lamp""#, "a one-letter prefix is a word")
        #expect(
            try SearchText.expression("NEAR(a b) AND c:d") == #""near" AND "a" AND "b" AND "and" AND "c" AND "d""#)
        for hopeless in ["\"", "((", "😀", "OR", "* - +", "\"\""] {
            #expect(throws: SearchText.Failure.noSearchableWords, "\(hopeless)") { try SearchText.expression(hopeless) }
        }
    }

    static func corpus(_ db: SoukDatabase, now: UInt64) throws {
        let items: [(String, String, String, [String], String, String)] = [
            ("Vintage road bicycle", "bikes", "DE", ["steel"], "Steel frame, 56 cm.", "EUR"),
            ("Kids helmet", "sports", "DE", [], "Barely used.", "EUR"),
            ("Vélo de course", "bikes", "FR", [], "Cadre acier.", "EUR"),
            ("Leather couch", "furniture", "NL", [], "Three seats.", "EUR"),
            ("Mountain biking gloves", "sports", "DE", [], "Size M.", "BTC"),
            ("Lamp", "bikes", "DE", [], "A front light that fits any frame.", "EUR"),
        ]
        for (i, item) in items.enumerated() {
            let o = try Fixture.listing(
                key: Fixture.key(UInt8(i + 1)), salt: Fixture.salt(i), createdAt: now - 1_000 + UInt64(i),
                title: item.0, description: item.4, price: UInt64(1_000 * (i + 1)), currency: item.5, category: item.1,
                country: item.2, tags: item.3)
            #expect(try db.apply(o, now: now) == .inserted)
        }
    }

    func titles(_ db: SoukDatabase, _ text: String, _ edit: (inout SearchQuery) -> Void = { _ in }) throws -> Set<
        String
    > {
        Set(Fixture.titles(try db.search(Fixture.query(text, edit), now: now)))
    }

    @Test("stemming, synonyms, category and tags, OR, phrases, prefixes, diacritics")
    func findsWhatPeopleType() throws {
        let db = try SoukDatabase.inMemory()
        try Self.corpus(db, now: now)
        #expect(try titles(db, "road bike") == ["Vintage road bicycle"], "the README's own example")
        #expect(try titles(db, "bicycles").contains("Vintage road bicycle"), "plural, stemmed")
        // Category bikes, and "biking" (the same stem).
        #expect(
            try titles(db, "bikes") == ["Vintage road bicycle", "Vélo de course", "Lamp", "Mountain biking gloves"])
        #expect(try titles(db, "steel") == ["Vintage road bicycle"], "a tag (and the description)")
        #expect(
            try titles(db, "bicycle OR helmet") == [
                "Vintage road bicycle", "Kids helmet", "Vélo de course", "Lamp", "Mountain biking gloves",
            ])
        #expect(try titles(db, "sofa") == ["Leather couch"], "synonym")
        #expect(try titles(db, "velo") == ["Vélo de course"] && (try titles(db, "vélo")) == ["Vélo de course"])
        #expect(try titles(db, "bik*").contains("Mountain biking gloves"))
        #expect(try titles(db, "\"road bicycle\"") == ["Vintage road bicycle"])
        #expect(try titles(db, "\"bicycle road\"").isEmpty, "a phrase keeps its order")
    }

    @Test("relevance: a title match ranks above a description match")
    func titleAboveDescription() throws {
        let db = try SoukDatabase.inMemory()
        try Self.corpus(db, now: now)
        // "frame" is in the descriptions of the bicycle and the lamp; "lamp" only in the lamp's title.
        let page = try db.search(Fixture.query("frame"), now: now)
        #expect(Set(Fixture.titles(page)) == ["Vintage road bicycle", "Lamp"])
        let ranked = Fixture.titles(try db.search(Fixture.query("lamp OR frame"), now: now))
        #expect(ranked.first == "Lamp", "\(ranked)")
    }

    @Test("country and category compare case-insensitively; the signed bytes stay as they are")
    func caseInsensitiveFilters() throws {
        let db = try SoukDatabase.inMemory()
        try Self.corpus(db, now: now)
        #expect(
            try titles(db, "") { $0.country = "de" } == [
                "Vintage road bicycle", "Kids helmet", "Mountain biking gloves", "Lamp",
            ])
        #expect(try titles(db, "") { $0.category = "Bikes" } == ["Vintage road bicycle", "Vélo de course", "Lamp"])
    }

    @Test("refusals: text without a word, a price sort without a currency; with one it sorts within it")
    func refusals() throws {
        let db = try SoukDatabase.inMemory()
        try Self.corpus(db, now: now)
        for text in ["\"", "((", "😀"] {
            #expect(throws: StoreError.self, "\(text)") { try db.search(Fixture.query(text), now: now) }
        }
        for sort in [SearchQuery.Sort.priceAsc, .priceDesc] {
            #expect(throws: StoreError.priceSortNeedsCurrency) {
                try db.search(Fixture.query("", sort: sort) { $0.currency = nil }, now: now)
            }
            let eur = Fixture.titles(
                try db.search(Fixture.query("", sort: sort) { $0.currency = Currency(code: "EUR") }, now: now))
            #expect(!eur.contains("Mountain biking gloves"), "only EUR prices")
            #expect(eur.count == 5)
        }
    }
}
