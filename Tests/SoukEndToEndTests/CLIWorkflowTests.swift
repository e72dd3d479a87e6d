import Foundation
import Testing

/// init → daemon → listings through the CLI, checking the exact `--json` output and the text output.
@Suite("end to end: CLI workflow against a real daemon", .serialized)
struct CLIWorkflowTests {
    @Test func listingLifecycleThroughTheCLI() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let identity = try await node.initialize()
        #expect(identity.encrypted == false)
        #expect(identity.network == "main")
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        #expect(daemon.nodeID == identity.nodeId, "the daemon runs the identity init created")

        // Create three listings.
        let bicycle = try await node.json(
            ListingJSON.self,
            [
                "listing", "create", "--title", "Vintage road bicycle", "--description", "Steel frame, 56 cm.",
                "--price", "120.00", "--currency", "EUR", "--category", "bikes", "--location", "Berlin, DE",
                "--country", "DE", "--condition", "good", "--tag", "steel", "--tag", "road",
            ])
        #expect(bicycle.listingId.count == 32)
        #expect(bicycle.objectId.count == 64)
        #expect(bicycle.seller == identity.nodeId)
        #expect(bicycle.version == 1)
        #expect(bicycle.title == "Vintage road bicycle")
        #expect(bicycle.description == "Steel frame, 56 cm.")
        #expect(bicycle.price == "120.00")
        #expect(bicycle.priceMinor == 12_000)
        #expect(bicycle.currency == "EUR")
        #expect(bicycle.category == "bikes")
        #expect(bicycle.location == "Berlin, DE")
        #expect(bicycle.country == "DE")
        #expect(bicycle.condition == "good")
        #expect(bicycle.quantity == 1)
        #expect(bicycle.tags == ["steel", "road"])
        #expect(bicycle.status == "active")
        #expect(bicycle.expiresAt == bicycle.updatedAt + 30 * 86_400)
        let kids = try await node.json(
            ListingJSON.self,
            [
                "listing", "create", "--title", "Kids bicycle with stabilisers", "--price", "45", "--currency", "EUR",
                "--category", "bikes", "--location", "Hamburg, DE", "--condition", "fair",
            ])
        #expect(kids.price == "45.00")
        let espresso = try await node.json(
            ListingJSON.self,
            [
                "listing", "create", "--title", "Espresso machine", "--price", "80", "--currency", "EUR",
                "--category", "kitchen", "--location", "Munich, DE", "--quantity", "2",
            ])
        #expect(espresso.quantity == 2)

        // Search: text, filters, sort, pagination.
        let bikes = try await node.json(SearchJSON.self, ["search", "bicycle"])
        #expect(Set(bikes.titles) == ["Vintage road bicycle", "Kids bicycle with stabilisers"])
        #expect(bikes.truncated == false)
        let cheap = try await node.json(
            SearchJSON.self, ["search", "bicycle", "--max-price", "100", "--currency", "EUR"])
        #expect(cheap.titles == ["Kids bicycle with stabilisers"])
        let ascending = try await node.json(
            SearchJSON.self, ["search", "--category", "bikes", "--sort", "price_asc", "--currency", "EUR"])
        #expect(ascending.titles == ["Kids bicycle with stabilisers", "Vintage road bicycle"])
        let descending = try await node.json(SearchJSON.self, ["search", "--sort", "price_desc", "--currency", "EUR"])
        #expect(descending.titles == ["Vintage road bicycle", "Espresso machine", "Kids bicycle with stabilisers"])
        #expect(
            try await node.json(SearchJSON.self, ["search", "--location", "Munich"]).titles == ["Espresso machine"])
        #expect(
            try await node.json(SearchJSON.self, ["search", "--condition", "fair"]).titles == [
                "Kids bicycle with stabilisers"
            ])
        let firstPage = try await node.json(
            SearchJSON.self,
            ["search", "--seller", identity.nodeId, "--sort", "price_asc", "--currency", "EUR", "--limit", "2"])
        #expect(firstPage.titles == ["Kids bicycle with stabilisers", "Espresso machine"])
        let cursor = try #require(firstPage.nextCursor)
        let secondPage = try await node.json(
            SearchJSON.self,
            [
                "search", "--seller", identity.nodeId, "--sort", "price_asc", "--currency", "EUR", "--limit", "2",
                "--cursor", cursor,
            ])
        #expect(secondPage.titles == ["Vintage road bicycle"])
        #expect(secondPage.nextCursor == nil)

        // Update keeps the id and the currency, bumps the version.
        let updated = try await node.json(
            ListingJSON.self, ["listing", "update", bicycle.listingId, "--price", "99.00"])
        #expect(updated.listingId == bicycle.listingId)
        #expect(updated.version == 2)
        #expect(updated.price == "99.00")
        #expect(updated.currency == "EUR")
        #expect(updated.title == bicycle.title)
        #expect(updated.objectId != bicycle.objectId)
        let shown = try await node.json(ListingJSON.self, ["listing", "show", bicycle.listingId])
        #expect(shown == updated)
        #expect(
            try await node.json(SearchJSON.self, ["search", "bicycle", "--max-price", "100", "--currency", "EUR"])
                .titles.count == 2)

        // Retract: gone from search, show explains why.
        let retracted = try await node.json(RetractJSON.self, ["listing", "retract", espresso.listingId])
        #expect(retracted.listingId == espresso.listingId)
        #expect(retracted.status == "retracted")
        let gone = try await node.failure(["listing", "show", espresso.listingId])
        #expect(gone.errorLine.contains("retracted"), "\(gone)")
        #expect(try await node.json(SearchJSON.self, ["search", "espresso"]).results.isEmpty)
        let mine = try await node.json(MineJSON.self, ["listing", "mine"])
        #expect(Set(mine.listings.map(\.listingId)) == [bicycle.listingId, kids.listingId])

        // node info.
        let info = try await node.json(NodeInfoJSON.self, ["node", "info"])
        #expect(info.nodeId == identity.nodeId)
        #expect(info.network == "main")
        #expect(info.listings.active == 2)
        #expect(info.listings.retracted == 1)
        #expect(info.rpc.host == "127.0.0.1")
        #expect(info.rpc.port == node.port)
        #expect(info.datadir == node.datadir)
        #expect(info.identityEncrypted == false)
        #expect(!info.version.isEmpty)

        let (status, signaled) = try await daemon.signal(SIGINT)
        #expect(status == 0 && !signaled, "SIGINT is a clean exit; stderr:\n\(daemon.stderr)")
    }

    @Test func textOutputIsReadable() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let identity = try await node.initialize()
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }

        let created = try await node.run([
            "listing", "create", "--title", "Brass telescope", "--price", "310.50", "--currency", "USD",
            "--category", "optics", "--location", "Boston, US", "--description", "Works, one scratch.",
        ])
        #expect(created.succeeded, "\(created)")
        #expect(created.stdout.contains("title:       Brass telescope"), "\(created)")
        #expect(created.stdout.contains("310.50 USD"), "\(created)")
        #expect(created.stdout.contains("Works, one scratch."), "\(created)")
        let id = try #require(
            created.stdout.split(separator: "\n").first { $0.hasPrefix("id:") }?.split(separator: " ").last.map(
                String.init))
        #expect(id.count == 32)

        let shown = try await node.run(["listing", "show", id])
        #expect(
            shown.succeeded && shown.stdout.contains("Brass telescope") && shown.stdout.contains("version:     1"),
            "\(shown)")
        let search = try await node.run(["search", "telescope"])
        #expect(search.succeeded, "\(search)")
        #expect(search.stdout.hasPrefix("ID"), "a table with a header: \(search)")
        #expect(
            search.stdout.contains(id) && search.stdout.contains("Brass telescope")
                && search.stdout.contains("310.50 USD"))
        let none = try await node.run(["search", "zeppelin"])
        #expect(
            none.succeeded && none.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no listings", "\(none)")
        let mine = try await node.run(["listing", "mine"])
        #expect(mine.succeeded && mine.stdout.contains("Brass telescope"), "\(mine)")
        let updated = try await node.run(["listing", "update", id, "--title", "Brass telescope, tripod included"])
        #expect(updated.succeeded && updated.stdout.contains("Brass telescope, tripod included"), "\(updated)")
        let info = try await node.run(["node", "info"])
        #expect(info.succeeded && info.stdout.contains(identity.nodeId) && info.stdout.contains("1 active"), "\(info)")
        let retracted = try await node.run(["listing", "retract", id])
        #expect(
            retracted.succeeded && retracted.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "retracted \(id)"
        )
    }

    @Test func rpcCommandAndRefusedRequests() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let identity = try await node.initialize()
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }

        let info = try await node.run(["rpc", "node.info"])
        #expect(info.succeeded && info.stdout.contains(identity.nodeId), "\(info)")
        let discover = try await node.run(["rpc", "rpc.discover"])
        #expect(discover.succeeded, "rpc.discover answers from the built binary:\n\(discover)")
        #expect(discover.stdout.contains("\"openrpc\"") && discover.stdout.contains("listing.search"), "\(discover)")

        let unknown = try await node.failure(["rpc", "no.such.method"])
        #expect(unknown.errorLine.contains("Method not found") && unknown.errorLine.contains("-32601"), "\(unknown)")
        let badParams = try await node.failure(["rpc", "listing.get", "{\"listing_id\": 7}"])
        #expect(badParams.errorLine.contains("-32602"), "\(badParams)")
        let notJSON = try await node.failure(["rpc", "node.info", "{nope"])
        #expect(notJSON.errorLine.contains("not valid JSON"), "\(notJSON)")

        // Invalid listings are refused with a reason and change nothing.
        let longTitle = try await node.failure([
            "listing", "create", "--title", String(repeating: "x", count: 141), "--price", "1", "--category", "misc",
        ])
        #expect(longTitle.errorLine.contains("title"), "\(longTitle)")
        let badCurrency = try await node.failure([
            "listing", "create", "--title", "Thing", "--price", "1", "--currency", "XYZ", "--category", "misc",
        ])
        #expect(badCurrency.errorLine.contains("currency"), "\(badCurrency)")
        let badID = try await node.failure(["listing", "show", "not-an-id"])
        #expect(badID.errorLine.contains("32 hex"), "\(badID)")
        let missing = try await node.failure(["listing", "show", String(repeating: "ab", count: 16)])
        #expect(missing.errorLine.contains("no listing"), "\(missing)")
        let noCurrency = try await node.failure(["search", "--max-price", "10"])
        #expect(noCurrency.errorLine.contains("currency"), "\(noCurrency)")
        #expect(try await node.json(NodeInfoJSON.self, ["node", "info"]).listings.active == 0)
    }
}
