import SoukCore
import SoukCrypto
import SoukStore
import Testing

@Suite("expiry and pruning")
struct ExpiryTests {
    let db: SoukDatabase
    let alice = Fixture.key(1)
    let now = Fixture.now

    init() throws { db = try SoukDatabase.inMemory() }

    /// "Short" expires at now+100, "Long" a week later; both mention "teapot".
    private func seed() throws -> (short: VerifiedObject, long: VerifiedObject) {
        let short = try Fixture.listing(
            key: alice, salt: Fixture.salt(1), createdAt: now - 60, expiresAt: now + 100, title: "Short teapot",
            category: "kitchen")
        let long = try Fixture.listing(
            key: alice, salt: Fixture.salt(2), createdAt: now - 120, title: "Long teapot", category: "kitchen")
        #expect(try db.apply(short, now: now) == .inserted)
        #expect(try db.apply(long, now: now) == .inserted)
        return (short, long)
    }

    @Test func searchNeverReturnsExpiredListings() throws {
        let (short, _) = try seed()
        #expect(
            Fixture.titles(try db.search(Fixture.query("teapot", sort: .newest), now: now)) == [
                "Short teapot", "Long teapot",
            ])
        // Exactly at expires_at the listing is expired.
        for t in [now + 100, now + 101, now + 5_000] {
            #expect(Fixture.titles(try db.search(Fixture.query("teapot"), now: t)) == ["Long teapot"])
            for sort in SearchQuery.Sort.allCases {
                #expect(Fixture.titles(try db.search(Fixture.query("teapot", sort: sort), now: t)) == ["Long teapot"])
                #expect(
                    Fixture.titles(try db.search(Fixture.query(sort: sort) { $0.category = "kitchen" }, now: t)) == [
                        "Long teapot"
                    ])
            }
            #expect(try db.counts(now: t).listings == 1)
            #expect(try db.listings(seller: alice.publicKey, now: t).map(\.listing.title) == ["Long teapot"])
        }
        // Still held (until pruned), just not searchable.
        #expect(try db.listing(short.listingID) != nil)
    }

    @Test func pruneDeletesExpiredListings() throws {
        let (short, long) = try seed()
        #expect(try db.pruneExpired(now: now) == (listings: 0, retractions: 0))
        #expect(try db.pruneExpired(now: now + 100) == (listings: 1, retractions: 0))
        #expect(try db.listing(short.listingID) == nil)
        #expect(try db.listing(long.listingID) != nil)
        #expect(try db.pruneExpired(now: now + 100) == (listings: 0, retractions: 0))
        // The FTS index follows the delete.
        #expect(Fixture.titles(try db.search(Fixture.query("short"), now: now)).isEmpty)
        #expect(Fixture.titles(try db.search(Fixture.query("teapot"), now: now)) == ["Long teapot"])
    }

    @Test func pruneDeletesOnlyOldTombstones() throws {
        let old = try Fixture.retraction(key: alice, salt: Fixture.salt(10), retractedAt: now - 100)
        let recent = try Fixture.retraction(key: alice, salt: Fixture.salt(11), retractedAt: now)
        #expect(try db.apply(old, now: now) == .retracted)
        #expect(try db.apply(recent, now: now) == .retracted)
        let horizon = Listing.Limits.maxLifetime + 2 * Listing.Limits.maxClockSkew
        // A tombstone is kept while some version it covers could still be valid.
        #expect(try db.pruneExpired(now: now + horizon - 100) == (listings: 0, retractions: 0))
        #expect(try db.pruneExpired(now: now + horizon) == (listings: 0, retractions: 1))
        #expect(try db.retraction(old.listingID) == nil)
        #expect(try db.retraction(recent.listingID) != nil)
        #expect(try db.pruneExpired(now: now + horizon + 1) == (listings: 0, retractions: 1))
        #expect(try db.counts(now: now) == (listings: 0, retractions: 0))
    }
}
