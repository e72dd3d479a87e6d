import Foundation
import SoukCore
import SoukCrypto
import SoukNode
import SoukStore
import Testing

/// An expired listing leaves every node's shared tables, but its seller keeps seeing it and can
/// renew it (a new version), across sweeps and restarts.
@Suite("own expired listings: kept for their seller, renewable")
struct OwnExpiryTests {
    let clock = ManualClock(NodeFixture.start)
    let database: SoukDatabase
    let alice: MarketNode
    let bob: MarketNode

    init() throws {
        database = try SoukDatabase.inMemory()
        alice = MarketNode(
            identity: NodeFixture.key(1), database: database, network: .main, clock: clock.function,
            logger: NodeFixture.quietLogger)
        bob = MarketNode(
            identity: NodeFixture.key(2), database: database, network: .main, clock: clock.function,
            logger: NodeFixture.quietLogger)
    }

    static func draft(_ title: String, days: Int = 1) -> ListingDraft {
        ListingDraft(
            title: title, description: "", price: Money(minorUnits: 500, currency: Currency(code: "EUR")!),
            category: "misc", location: "", country: "", quantity: 1, condition: .good, tags: [], expiresInDays: days)
    }

    @Test("after the sweep the seller still lists it as expired, can renew it; other sellers' are gone")
    func keptAndRenewed() async throws {
        let mine = try await alice.createListing(Self.draft("Alice's lamp"))
        let theirs = try await bob.createListing(Self.draft("Bob's lamp"))
        clock.advance(by: 86_400 + 1)
        _ = try await alice.pruneExpired()
        // Bob's expired listing is gone for Alice's node; Alice's own is kept for her.
        #expect(try database.listing(theirs.listingID) == nil)
        #expect(try await alice.myListings(includeExpired: true).map(\.listingID) == [mine.listingID])
        #expect(try await alice.myListings().isEmpty, "not active")
        await #expect(throws: NodeError.listingExpired(mine.listingID)) { try await alice.listing(mine.listingID) }
        // It is no longer in the shared tables: not searched, not gossiped, not reconciled.
        #expect(try database.hasObject(mine.objectID) == false)
        #expect(try database.summary(now: clock.now).objects[.listing] ?? 0 == 0)

        let renewed = try await alice.renewListing(mine.listingID, days: 7)
        #expect(renewed.listingID == mine.listingID && renewed.listing.version == 2)
        #expect(renewed.listing.createdAt == mine.listing.createdAt)
        #expect(renewed.listing.expiresAt == renewed.listing.updatedAt + 7 * 86_400)
        #expect(try await alice.listing(mine.listingID) == renewed)
        #expect(try database.ownExpiredListings().isEmpty, "the expired copy goes with the renewal")
        #expect(try await alice.myListings(includeExpired: true).map(\.listing.version) == [2])
    }

    @Test("refusals: someone else's listing, an unknown one, a retracted one, days out of range")
    func renewRefusals() async throws {
        let theirs = try await bob.createListing(Self.draft("Bob's chair"))
        await #expect(throws: NodeError.notSeller(theirs.listingID)) {
            try await alice.renewListing(theirs.listingID, days: 3)
        }
        let unknown = ListingID(seller: [UInt8](repeating: 9, count: 32), salt: [UInt8](repeating: 9, count: 16))
        await #expect(throws: NodeError.listingNotFound(unknown)) { try await alice.renewListing(unknown, days: 3) }
        let mine = try await alice.createListing(Self.draft("Alice's chair"))
        await #expect(throws: NodeError.self) { try await alice.renewListing(mine.listingID, days: 31) }
        let tomb = try await alice.retractListing(mine.listingID)
        await #expect(throws: NodeError.listingRetracted(mine.listingID, retractedAt: tomb.retractedAt)) {
            try await alice.renewListing(mine.listingID, days: 3)
        }
        // A retracted listing's expired copy is gone too.
        #expect(try await alice.myListings(includeExpired: true).isEmpty)
    }

    @Test("a file reopened after the sweep still has the seller's expired listing")
    func survivesRestart() async throws {
        let dir = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/souk.sqlite"
        var node = MarketNode(
            identity: NodeFixture.key(1), database: try SoukDatabase.open(path: path), network: .main,
            clock: clock.function, logger: NodeFixture.quietLogger)
        let mine = try await node.createListing(Self.draft("Kept"))
        clock.advance(by: 2 * 86_400)
        _ = try await node.pruneExpired()
        node = MarketNode(
            identity: NodeFixture.key(1), database: try SoukDatabase.open(path: path), network: .main,
            clock: clock.function, logger: NodeFixture.quietLogger)
        _ = try await node.pruneExpired()
        #expect(try await node.myListings(includeExpired: true).map(\.listingID) == [mine.listingID])
    }
}
