import Foundation
import SoukCore
import SoukCrypto
import SoukNode
import SoukStore
import Testing

@Suite("market node: create, update, retract, ownership, expiry")
struct MarketNodeTests {
    let clock = ManualClock(NodeFixture.start)
    let database: SoukDatabase
    let alice: MarketNode
    let aliceKey = NodeFixture.key(1)
    let bobKey = NodeFixture.key(2)

    init() throws {
        database = try SoukDatabase.inMemory()
        alice = MarketNode(
            identity: aliceKey, database: database, network: .main, clock: clock.function,
            logger: NodeFixture.quietLogger)
    }

    /// Another seller's node on the same store.
    func bob() -> MarketNode {
        MarketNode(
            identity: bobKey, database: database, network: .main, clock: clock.function,
            logger: NodeFixture.quietLogger)
    }

    static func bicycle(days: Int = 30) -> ListingDraft {
        ListingDraft(
            title: "Vintage road bicycle", description: "Steel frame, 56 cm, new tyres.",
            price: Money(minorUnits: 12_000, currency: Currency(code: "EUR")!), category: "bikes",
            location: "Berlin", country: "DE", quantity: 1, condition: .good, tags: ["steel", "road"],
            expiresInDays: days)
    }

    /// The validation code inside a `NodeError.invalid`, or nil.
    func invalidCode(_ body: () async throws -> Void) async -> ValidationError.Code? {
        do {
            try await body()
            return nil
        } catch let NodeError.invalid(error) {
            return error.code
        } catch {
            Issue.record("expected NodeError.invalid, got \(error)")
            return nil
        }
    }

    @Test func createSignsAndStoresVersionOne() async throws {
        let stored = try await alice.createListing(Self.bicycle())
        let now = NodeFixture.start
        #expect(stored.seller == aliceKey.publicKey)
        #expect(stored.listing.version == 1)
        #expect(stored.listing.createdAt == now)
        #expect(stored.listing.updatedAt == now)
        #expect(stored.listing.expiresAt == now + 30 * 86_400)
        #expect(stored.listing.title == "Vintage road bicycle")
        #expect(stored.listing.price.minorUnits == 12_000)
        #expect(stored.listing.tags == ["steel", "road"])
        #expect(stored.listingID == stored.listing.id(seller: aliceKey.publicKey))
        // The stored envelope is the signed bytes, verifiable on their own.
        let envelope = try Envelope(decoding: stored.envelope)
        #expect(envelope.hasValidSignature)
        #expect(envelope.signer == aliceKey.publicKey)
        #expect(envelope.id == stored.objectID)
        #expect(try await alice.listing(stored.listingID) == stored)
        #expect(try await alice.myListings().map(\.listingID) == [stored.listingID])
        #expect(alice.nodeID.publicKey == aliceKey.publicKey)
        #expect(await alice.now() == now)
    }

    @Test func twoCreatesGiveTwoListingIDs() async throws {
        let a = try await alice.createListing(Self.bicycle())
        let b = try await alice.createListing(Self.bicycle())
        #expect(a.listingID != b.listingID)
        #expect(try await alice.myListings().count == 2)
    }

    @Test func invalidDraftsAreRefusedAndChangeNothing() async throws {
        var empty = Self.bicycle()
        empty.title = ""
        #expect(await invalidCode { _ = try await alice.createListing(empty) } == .invalidTitle)
        var long = Self.bicycle()
        long.title = String(repeating: "x", count: 141)
        #expect(await invalidCode { _ = try await alice.createListing(long) } == .invalidTitle)
        var zeroQuantity = Self.bicycle()
        zeroQuantity.quantity = 0
        #expect(await invalidCode { _ = try await alice.createListing(zeroQuantity) } == .invalidQuantity)
        for days in [0, 31, -1] {
            #expect(
                await invalidCode { _ = try await alice.createListing(Self.bicycle(days: days)) } == .invalidTimestamps)
        }
        #expect(try database.counts(now: clock.now) == (listings: 0, retractions: 0))
    }

    @Test func updateBumpsVersionAndKeepsTheID() async throws {
        let created = try await alice.createListing(Self.bicycle())
        clock.advance(by: 60)
        var changes = ListingChanges()
        changes.price = Money(minorUnits: 9_900, currency: Currency(code: "EUR")!)
        changes.title = "Vintage road bicycle, reduced"
        let updated = try await alice.updateListing(created.listingID, changes: changes)
        #expect(updated.listingID == created.listingID)
        #expect(updated.objectID != created.objectID)
        #expect(updated.listing.version == 2)
        #expect(updated.listing.price.minorUnits == 9_900)
        #expect(updated.listing.title == "Vintage road bicycle, reduced")
        #expect(updated.listing.description == created.listing.description, "unchanged fields are kept")
        #expect(updated.listing.tags == created.listing.tags)
        #expect(updated.listing.createdAt == created.listing.createdAt)
        #expect(updated.listing.updatedAt == NodeFixture.start + 60)
        #expect(updated.listing.expiresAt == created.listing.expiresAt, "remaining lifetime is kept")
        #expect(try await alice.listing(created.listingID).listing.version == 2)

        // A second update without moving the clock still gets a higher version.
        var again = ListingChanges()
        again.quantity = 3
        let third = try await alice.updateListing(created.listingID, changes: again)
        #expect(third.listing.version == 3)
        #expect(third.listing.quantity == 3)
        #expect(try await alice.myListings().count == 1)
    }

    @Test func updateCanRenewTheLifetimeWithinThirtyDays() async throws {
        let created = try await alice.createListing(Self.bicycle(days: 5))
        clock.advance(by: 2 * 86_400)
        var renew = ListingChanges()
        renew.expiresInDays = 30
        let renewed = try await alice.updateListing(created.listingID, changes: renew)
        #expect(renewed.listing.expiresAt == clock.now + 30 * 86_400)
        var tooLong = ListingChanges()
        tooLong.expiresInDays = 31
        #expect(
            await invalidCode { _ = try await alice.updateListing(created.listingID, changes: tooLong) }
                == .invalidTimestamps)
        var badTitle = ListingChanges()
        badTitle.title = " padded "
        #expect(
            await invalidCode { _ = try await alice.updateListing(created.listingID, changes: badTitle) }
                == .invalidTitle)
        #expect(try await alice.listing(created.listingID).listing.version == 2, "refused updates change nothing")
    }

    @Test func retractStoresATombstoneAndEndsTheListing() async throws {
        let created = try await alice.createListing(Self.bicycle())
        clock.advance(by: 10)
        let tomb = try await alice.retractListing(created.listingID)
        #expect(tomb.listingID == created.listingID)
        #expect(tomb.seller == aliceKey.publicKey)
        #expect(tomb.retractedAt == NodeFixture.start + 10)
        #expect(try Envelope(decoding: tomb.envelope).hasValidSignature)
        let retracted = NodeError.listingRetracted(created.listingID, retractedAt: NodeFixture.start + 10)
        await #expect(throws: retracted) { try await alice.listing(created.listingID) }
        var changes = ListingChanges()
        changes.quantity = 2
        await #expect(throws: retracted) { try await alice.updateListing(created.listingID, changes: changes) }
        await #expect(throws: retracted) { try await alice.retractListing(created.listingID) }
        #expect(try await alice.myListings().isEmpty)
        var query = SearchQuery()
        query.text = "bicycle"
        #expect(try await alice.search(query).hits.isEmpty)
        #expect(try database.counts(now: clock.now) == (listings: 0, retractions: 1))
    }

    @Test func onlyTheSellerCanChangeAListing() async throws {
        let bobs = try await bob().createListing(Self.bicycle())
        // Anyone can read it ...
        #expect(try await alice.listing(bobs.listingID).seller == bobKey.publicKey)
        // ... but not change or retract it.
        var changes = ListingChanges()
        changes.price = Money(minorUnits: 1, currency: Currency(code: "EUR")!)
        await #expect(throws: NodeError.notSeller(bobs.listingID)) {
            try await alice.updateListing(bobs.listingID, changes: changes)
        }
        await #expect(throws: NodeError.notSeller(bobs.listingID)) { try await alice.retractListing(bobs.listingID) }
        #expect(try await alice.listing(bobs.listingID) == bobs, "refusals change nothing")
        #expect(try await alice.myListings().isEmpty)
        #expect(try await bob().myListings().map(\.listingID) == [bobs.listingID])
        // Bob himself can.
        #expect(try await bob().retractListing(bobs.listingID).listingID == bobs.listingID)
    }

    @Test func unknownListingIsNotFound() async throws {
        let id = ListingID(seller: aliceKey.publicKey, salt: [UInt8](repeating: 9, count: 16))
        await #expect(throws: NodeError.listingNotFound(id)) { try await alice.listing(id) }
        await #expect(throws: NodeError.listingNotFound(id)) { try await alice.retractListing(id) }
        await #expect(throws: NodeError.listingNotFound(id)) {
            try await alice.updateListing(id, changes: ListingChanges())
        }
    }

    @Test func expiredListingIsGoneFromEveryView() async throws {
        let created = try await alice.createListing(Self.bicycle(days: 1))
        let id = created.listingID
        clock.advance(by: 86_399)
        #expect(try await alice.listing(id) == created, "one second before expires_at it is still active")
        clock.advance(by: 1)
        await #expect(throws: NodeError.listingExpired(id)) { try await alice.listing(id) }
        var changes = ListingChanges()
        changes.expiresInDays = 30
        await #expect(throws: NodeError.listingExpired(id)) { try await alice.updateListing(id, changes: changes) }
        await #expect(throws: NodeError.listingExpired(id)) { try await alice.retractListing(id) }
        #expect(try await alice.myListings().isEmpty)
        var query = SearchQuery()
        query.text = "bicycle"
        #expect(try await alice.search(query).hits.isEmpty)

        let removed = try await alice.pruneExpired()
        #expect(removed.listings == 1)
        #expect(removed.retractions == 0)
        // Its own seller is told it expired (other nodes no longer know it at all).
        await #expect(throws: NodeError.listingExpired(id)) { try await alice.listing(id) }
    }

    @Test func ingestStoresOnlyVerifiedObjects() async throws {
        let bobs = try await bob().createListing(Self.bicycle())
        let elsewhere = MarketNode(
            identity: aliceKey, database: try SoukDatabase.inMemory(), network: .main, clock: clock.function,
            logger: NodeFixture.quietLogger)
        var flipped = bobs.envelope
        flipped[flipped.count / 2] ^= 0x01
        do {
            _ = try await elsewhere.ingest(flipped)
            Issue.record("a flipped byte must be refused")
        } catch NodeError.invalid {
        }
        await #expect(throws: NodeError.listingNotFound(bobs.listingID)) { try await elsewhere.listing(bobs.listingID) }
        #expect(try await elsewhere.ingest(bobs.envelope) == .inserted)
        #expect(try await elsewhere.ingest(bobs.envelope) == .duplicate)
        #expect(try await elsewhere.listing(bobs.listingID).envelope == bobs.envelope, "stored verbatim")
    }
}
