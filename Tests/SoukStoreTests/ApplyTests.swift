import SoukCore
import SoukCrypto
import SoukStore
import Testing

@Suite("apply: insert, update, refusals, retraction, quota")
struct ApplyTests {
    let db: SoukDatabase
    let alice = Fixture.key(1)
    let bob = Fixture.key(2)
    let now = Fixture.now

    init() throws { db = try SoukDatabase.inMemory() }

    @Test func insertStoresTheVerbatimEnvelope() throws {
        let obj = try Fixture.listing(
            key: alice, salt: Fixture.salt(1), title: "Red road bicycle", description: "Aluminium frame",
            price: 25_000, category: "bikes", location: "Berlin", country: "DE", tags: ["road"])
        #expect(try db.apply(obj, now: now) == .inserted)
        let stored = try #require(try db.listing(obj.listingID))
        #expect(stored.envelope == obj.envelope.bytes)
        #expect(stored.objectID == obj.id)
        #expect(stored.seller == alice.publicKey)
        #expect(stored.listingID == obj.listingID)
        #expect(stored.receivedAt == now)
        #expect(stored.listing.title == "Red road bicycle")
        #expect(stored.listing.price.minorUnits == 25_000)
        #expect(stored.listing.tags == ["road"])
        #expect(try db.counts(now: now) == (listings: 1, retractions: 0))
        #expect(try db.retraction(obj.listingID) == nil)
        #expect(ApplyOutcome.inserted.changedStore)
    }

    @Test func unknownListingIsNil() throws {
        let obj = try Fixture.listing(key: alice, salt: Fixture.salt(1))
        #expect(try db.listing(obj.listingID) == nil)
    }

    @Test func higherVersionReplacesFieldsAndSearchText() throws {
        let salt = Fixture.salt(1)
        let v1 = try Fixture.listing(
            key: alice, salt: salt, version: 1, title: "Red bicycle", description: "Steel frame", price: 10_000,
            category: "bikes")
        let v2 = try Fixture.listing(
            key: alice, salt: salt, version: 2, title: "Blue scooter", description: "Electric", price: 8_000,
            category: "scooters")
        #expect(try db.apply(v1, now: now) == .inserted)
        #expect(try db.apply(v2, now: now + 5) == .updated(fromVersion: 1))

        let stored = try #require(try db.listing(v1.listingID))
        #expect(stored.listing.version == 2)
        #expect(stored.listing.title == "Blue scooter")
        #expect(stored.listing.price.minorUnits == 8_000)
        #expect(stored.envelope == v2.envelope.bytes)
        #expect(stored.objectID == v2.id)
        #expect(stored.receivedAt == now + 5)
        #expect(try db.counts(now: now) == (listings: 1, retractions: 0))

        #expect(Fixture.titles(try db.search(Fixture.query("scooter"), now: now)) == ["Blue scooter"])
        #expect(Fixture.titles(try db.search(Fixture.query("electric"), now: now)) == ["Blue scooter"])
        #expect(try db.search(Fixture.query("bicycle"), now: now).hits.isEmpty)
        #expect(try db.search(Fixture.query("steel"), now: now).hits.isEmpty)
        #expect(try db.search(Fixture.query { $0.category = "bikes" }, now: now).hits.isEmpty)
        #expect(Fixture.titles(try db.search(Fixture.query { $0.category = "scooters" }, now: now)) == ["Blue scooter"])
    }

    @Test func versionsCanSkip() throws {
        let salt = Fixture.salt(1)
        #expect(try db.apply(try Fixture.listing(key: alice, salt: salt, version: 1), now: now) == .inserted)
        let v7 = try Fixture.listing(key: alice, salt: salt, version: 7, title: "Seventh")
        #expect(try db.apply(v7, now: now) == .updated(fromVersion: 1))
        #expect(try db.listing(v7.listingID)?.listing.version == 7)
    }

    @Test func lowerVersionIsStale() throws {
        let salt = Fixture.salt(1)
        let v1 = try Fixture.listing(key: alice, salt: salt, version: 1, title: "First")
        let v2 = try Fixture.listing(key: alice, salt: salt, version: 2, title: "Second")
        #expect(try db.apply(v2, now: now) == .inserted)
        let outcome = try db.apply(v1, now: now)
        #expect(outcome == .stale(currentVersion: 2))
        #expect(!outcome.changedStore)
        #expect(try db.listing(v1.listingID)?.listing.title == "Second")
        #expect(try db.search(Fixture.query("first"), now: now).hits.isEmpty)
    }

    @Test func sameVersionWithDifferentBytesIsStale() throws {
        let salt = Fixture.salt(1)
        let a = try Fixture.listing(key: alice, salt: salt, version: 3, title: "Original")
        let b = try Fixture.listing(key: alice, salt: salt, version: 3, title: "Equivocation")
        #expect(a.id != b.id)
        #expect(try db.apply(a, now: now) == .inserted)
        #expect(try db.apply(b, now: now) == .stale(currentVersion: 3))
        #expect(try db.listing(a.listingID)?.objectID == a.id)
    }

    @Test func changedCreatedAtIsStale() throws {
        let salt = Fixture.salt(1)
        let v1 = try Fixture.listing(key: alice, salt: salt, version: 1, createdAt: now - 1_000)
        let v2 = try Fixture.listing(key: alice, salt: salt, version: 2, createdAt: now - 500, title: "Moved")
        #expect(try db.apply(v1, now: now) == .inserted)
        #expect(try db.apply(v2, now: now) == .stale(currentVersion: 1))
        let stored = try #require(try db.listing(v1.listingID))
        #expect(stored.listing.createdAt == now - 1_000)
        #expect(stored.listing.version == 1)
    }

    @Test func sameEnvelopeTwiceIsDuplicate() throws {
        let obj = try Fixture.listing(key: alice, salt: Fixture.salt(1), title: "Lamp")
        #expect(try db.apply(obj, now: now) == .inserted)
        let again = try db.apply(obj, now: now + 10)
        #expect(again == .duplicate)
        #expect(!again.changedStore)
        #expect(try db.counts(now: now) == (listings: 1, retractions: 0))
        #expect(try db.listing(obj.listingID)?.receivedAt == now)
    }

    @Test func retractionRemovesListingAndIsFinal() throws {
        let salt = Fixture.salt(1)
        let v1 = try Fixture.listing(key: alice, salt: salt, version: 1, title: "Garden chair")
        let v2 = try Fixture.listing(key: alice, salt: salt, version: 2, title: "Garden chair two")
        let v3 = try Fixture.listing(key: alice, salt: salt, version: 3, title: "Garden chair three")
        let retraction = try Fixture.retraction(key: alice, salt: salt, retractedAt: now - 10)
        #expect(retraction.listingID == v1.listingID)

        #expect(try db.apply(v1, now: now) == .inserted)
        #expect(try db.apply(v2, now: now) == .updated(fromVersion: 1))
        let outcome = try db.apply(retraction, now: now)
        #expect(outcome == .retracted)
        #expect(outcome.changedStore)

        #expect(try db.listing(v1.listingID) == nil)
        let tomb = try #require(try db.retraction(v1.listingID))
        #expect(tomb.objectID == retraction.id)
        #expect(tomb.envelope == retraction.envelope.bytes)
        #expect(tomb.seller == alice.publicKey)
        #expect(tomb.retractedAt == now - 10)
        #expect(try db.counts(now: now) == (listings: 0, retractions: 1))
        #expect(try db.search(Fixture.query("garden"), now: now).hits.isEmpty)
        #expect(try db.search(Fixture.query(), now: now).hits.isEmpty)

        // Older, the same, and newer versions are all refused afterwards.
        #expect(try db.apply(v1, now: now) == .alreadyRetracted)
        #expect(try db.apply(v2, now: now) == .alreadyRetracted)
        #expect(try db.apply(v3, now: now) == .alreadyRetracted)
        #expect(try db.apply(retraction, now: now) == .duplicate)
        #expect(try db.listing(v1.listingID) == nil)
        #expect(try db.search(Fixture.query("garden"), now: now).hits.isEmpty)
    }

    @Test func secondDifferentRetractionIsRefused() throws {
        let salt = Fixture.salt(1)
        #expect(
            try db.apply(try Fixture.retraction(key: alice, salt: salt, retractedAt: now - 10), now: now) == .retracted)
        let other = try Fixture.retraction(key: alice, salt: salt, retractedAt: now - 5)
        #expect(try db.apply(other, now: now) == .alreadyRetracted)
        #expect(try db.counts(now: now).retractions == 1)
    }

    @Test func retractionBeforeListingBlocksIt() throws {
        let salt = Fixture.salt(1)
        let retraction = try Fixture.retraction(key: alice, salt: salt)
        let listing = try Fixture.listing(key: alice, salt: salt, title: "Late arrival")
        #expect(try db.apply(retraction, now: now) == .retracted)
        #expect(try db.apply(listing, now: now) == .alreadyRetracted)
        #expect(try db.listing(listing.listingID) == nil)
        #expect(try db.search(Fixture.query("arrival"), now: now).hits.isEmpty)
        #expect(try db.counts(now: now) == (listings: 0, retractions: 1))
    }

    @Test func retractionOnlyCoversItsOwnListing() throws {
        let kept = try Fixture.listing(key: alice, salt: Fixture.salt(2), title: "Kept")
        // Same salt, other seller: a different listing id.
        let bobs = try Fixture.listing(key: bob, salt: Fixture.salt(1), title: "Bobs")
        #expect(try db.apply(kept, now: now) == .inserted)
        #expect(try db.apply(bobs, now: now) == .inserted)
        #expect(try db.apply(try Fixture.retraction(key: alice, salt: Fixture.salt(1)), now: now) == .retracted)
        #expect(try db.listing(kept.listingID) != nil)
        #expect(try db.listing(bobs.listingID) != nil)
        #expect(try db.counts(now: now) == (listings: 2, retractions: 1))
    }

    @Test func perSellerQuota() throws {
        for i in 0..<3 {
            let obj = try Fixture.listing(key: alice, salt: Fixture.salt(i), title: "Alice \(i)")
            #expect(try db.apply(obj, now: now, maxActivePerSeller: 3) == .inserted)
        }
        let fourth = try Fixture.listing(key: alice, salt: Fixture.salt(3), title: "Alice 3")
        let outcome = try db.apply(fourth, now: now, maxActivePerSeller: 3)
        #expect(outcome == .quotaExceeded(limit: 3))
        #expect(!outcome.changedStore)
        #expect(try db.listing(fourth.listingID) == nil)
        #expect(try db.listings(seller: alice.publicKey, now: now).count == 3)

        // Another seller has their own quota; updating a held listing is not a new listing.
        let bobs = try Fixture.listing(key: bob, salt: Fixture.salt(3), title: "Bob 3")
        #expect(try db.apply(bobs, now: now, maxActivePerSeller: 3) == .inserted)
        let update = try Fixture.listing(key: alice, salt: Fixture.salt(0), version: 2, title: "Alice 0 v2")
        #expect(try db.apply(update, now: now, maxActivePerSeller: 3) == .updated(fromVersion: 1))
    }

    @Test func tombstonesForUnseenListingsCountAgainstTheQuota() throws {
        for i in 0..<2 {
            let unseen = try Fixture.retraction(key: alice, salt: Fixture.salt(50 + i))
            #expect(try db.apply(unseen, now: now, maxActivePerSeller: 2) == .retracted)
        }
        let third = try Fixture.retraction(key: alice, salt: Fixture.salt(52))
        #expect(try db.apply(third, now: now, maxActivePerSeller: 2) == .quotaExceeded(limit: 2))
        #expect(try db.retraction(third.listingID) == nil)
        #expect(try db.counts(now: now).retractions == 2)
        // Another key is not affected, and retracting a held listing is always possible.
        #expect(
            try db.apply(try Fixture.retraction(key: bob, salt: Fixture.salt(52)), now: now, maxActivePerSeller: 2)
                == .retracted)
        let held = try Fixture.listing(key: alice, salt: Fixture.salt(60), title: "Held")
        #expect(try db.apply(held, now: now, maxActivePerSeller: 2) == .inserted)
        #expect(
            try db.apply(try Fixture.retraction(key: alice, salt: Fixture.salt(60)), now: now, maxActivePerSeller: 2)
                == .retracted)
        #expect(try db.listing(held.listingID) == nil)
    }

    /// Expired listings count until the sweeper prunes them (within a minute on a running node), so
    /// the quota check stays an index-only count.
    @Test func prunedListingsDoNotCountAgainstTheQuota() throws {
        let shortLived = try Fixture.listing(
            key: alice, salt: Fixture.salt(0), createdAt: now - 100, expiresAt: now + 100, title: "Short")
        #expect(try db.apply(shortLived, now: now, maxActivePerSeller: 2) == .inserted)
        #expect(
            try db.apply(try Fixture.listing(key: alice, salt: Fixture.salt(1)), now: now, maxActivePerSeller: 2)
                == .inserted)
        let third = try Fixture.listing(key: alice, salt: Fixture.salt(2), verifiedAt: now + 200)
        #expect(try db.apply(third, now: now, maxActivePerSeller: 2) == .quotaExceeded(limit: 2))
        #expect(try db.apply(third, now: now + 200, maxActivePerSeller: 2) == .quotaExceeded(limit: 2))
        #expect(try db.pruneExpired(now: now + 200).listings == 1)
        #expect(try db.apply(third, now: now + 200, maxActivePerSeller: 2) == .inserted)
    }

    @Test func sellerListingsAreNewestFirstAndUnexpired() throws {
        let old = try Fixture.listing(key: alice, salt: Fixture.salt(0), createdAt: now - 3_000, title: "Old")
        let mid = try Fixture.listing(key: alice, salt: Fixture.salt(1), createdAt: now - 2_000, title: "Mid")
        let gone = try Fixture.listing(
            key: alice, salt: Fixture.salt(2), createdAt: now - 1_000, expiresAt: now + 50, title: "Gone")
        let bobs = try Fixture.listing(key: bob, salt: Fixture.salt(3), title: "Bobs")
        for obj in [mid, gone, old, bobs] { #expect(try db.apply(obj, now: now) == .inserted) }
        #expect(try db.listings(seller: alice.publicKey, now: now).map(\.listing.title) == ["Gone", "Mid", "Old"])
        #expect(try db.listings(seller: alice.publicKey, now: now + 60).map(\.listing.title) == ["Mid", "Old"])
        #expect(try db.listings(seller: alice.publicKey, now: now, limit: 1).map(\.listing.title) == ["Gone"])
    }
}
