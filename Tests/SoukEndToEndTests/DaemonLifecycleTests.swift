import Foundation
import Testing

/// Signals, the cookie, HTTP authentication and durability across `kill -9`.
@Suite("end to end: daemon lifecycle and durability", .serialized)
struct DaemonLifecycleTests {
    @Test func sigtermAndSigintShutDownCleanlyAndRemoveTheCookie() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()

        let first = try await node.startDaemon()
        defer { first.stop() }
        let stdoutLines = first.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(stdoutLines.count == 2 && stdoutLines[1].isEmpty, "exactly one stdout line: \(first.stdout)")
        #expect(first.stdout.hasPrefix("souk daemon ready: node \(first.nodeID) rpc 127.0.0.1:\(node.port)"))
        let attributes = try FileManager.default.attributesOfItem(atPath: first.cookiePath)
        #expect(((attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0) & 0o777 == 0o600)
        let firstCookie = try String(contentsOfFile: first.cookiePath, encoding: .utf8)
        #expect(firstCookie.hasPrefix("__cookie__:") && firstCookie.count == "__cookie__:".count + 64)

        // Signal only once the daemon has answered a request: see signalRightAfterTheReadyLine below.
        #expect(try await node.json(NodeInfoJSON.self, ["node", "info"]).nodeId == first.nodeID)
        let (status, signaled) = try await first.signal(SIGTERM)
        #expect(!signaled && status == 0, "SIGTERM is a clean exit; stderr:\n\(first.stderr)")
        #expect(!FileManager.default.fileExists(atPath: first.cookiePath), "rpc.cookie is removed on shutdown")
        #expect(first.stderr.contains("souk daemon stopped"), "\(first.stderr)")

        // The lock is released: a new daemon starts, with a new secret.
        let second = try await node.startDaemon()
        defer { second.stop() }
        let secondCookie = try String(contentsOfFile: second.cookiePath, encoding: .utf8)
        #expect(secondCookie != firstCookie, "a new cookie each start")
        let stale = try RawHTTP.post(
            port: node.port, body: #"{"jsonrpc":"2.0","id":1,"method":"node.info"}"#,
            authorization: RawHTTP.basic(firstCookie))
        #expect(RawHTTP.status(stale) == 401, "the previous run's cookie no longer works: \(stale)")
        let (status2, signaled2) = try await second.signal(SIGINT)
        #expect(!signaled2 && status2 == 0, "SIGINT is a clean exit; stderr:\n\(second.stderr)")
        #expect(!FileManager.default.fileExists(atPath: second.cookiePath))
    }

    /// `souk daemon` traps SIGTERM/SIGINT before it starts anything, so a signal sent the moment the
    /// ready line appears is a clean shutdown (exit 0, rpc.cookie removed), never a kill.
    @Test func signalRightAfterTheReadyLine() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        for round in 1...3 {
            let daemon = try await node.startDaemon()
            defer { daemon.stop() }
            let (status, signaled) = try await daemon.signal(SIGTERM)
            let cookieLeft = FileManager.default.fileExists(atPath: daemon.cookiePath)
            #expect(!signaled && status == 0, "round \(round): SIGTERM right after the ready line must be a clean exit")
            #expect(!cookieLeft, "round \(round): rpc.cookie must be removed")
            if cookieLeft { try? FileManager.default.removeItem(atPath: daemon.cookiePath) }
        }
    }

    @Test func rawHTTPNeedsTheCookie() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        let body = #"{"jsonrpc":"2.0","id":1,"method":"node.info"}"#

        let anonymous = try RawHTTP.post(port: node.port, body: body, authorization: nil)
        #expect(RawHTTP.status(anonymous) == 401, "\(anonymous)")
        #expect(anonymous.lowercased().contains("www-authenticate: basic"), "\(anonymous)")
        #expect(!anonymous.contains(daemon.nodeID), "nothing leaks without credentials")
        let wrongSecret = try RawHTTP.post(
            port: node.port, body: body, authorization: RawHTTP.basic("__cookie__:" + String(repeating: "0", count: 64))
        )
        #expect(RawHTTP.status(wrongSecret) == 401, "\(wrongSecret)")
        let notBasic = try RawHTTP.post(port: node.port, body: body, authorization: "Bearer whatever")
        #expect(RawHTTP.status(notBasic) == 401, "\(notBasic)")

        let cookie = try String(contentsOfFile: daemon.cookiePath, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let ok = try RawHTTP.post(port: node.port, body: body, authorization: RawHTTP.basic(cookie))
        #expect(RawHTTP.status(ok) == 200, "\(ok)")
        #expect(ok.contains(#""jsonrpc":"2.0""#) || ok.contains(#""jsonrpc" : "2.0""#), "\(ok)")
        #expect(ok.contains(daemon.nodeID), "\(ok)")
    }

    @Test func acknowledgedWritesSurviveKill9() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let first = try await node.startDaemon()
        defer { first.stop() }

        let kept = try await node.json(
            ListingJSON.self,
            [
                "listing", "create", "--title", "Durable cast iron teapot", "--price", "35", "--currency", "EUR",
                "--category", "kitchen", "--location", "Lyon, FR",
            ])
        let dropped = try await node.json(
            ListingJSON.self,
            ["listing", "create", "--title", "Retracted copper kettle", "--price", "20", "--category", "kitchen"])
        _ = try await node.json(RetractJSON.self, ["listing", "retract", dropped.listingId])
        let updated = try await node.json(ListingJSON.self, ["listing", "update", kept.listingId, "--price", "29.50"])
        #expect(updated.version == 2)
        // The very last acknowledged write was just returned: kill -9 now, no chance to flush or checkpoint.
        let (_, signaled) = try await first.signal(SIGKILL)
        #expect(signaled)
        #expect(FileManager.default.fileExists(atPath: first.cookiePath), "kill -9 leaves a stale cookie behind")

        // A stale cookie with no daemon still gives the actionable message.
        let noDaemon = try await node.failure(["node", "info"])
        #expect(noDaemon.errorLine.contains("souk daemon"), "\(noDaemon)")

        let second = try await node.startDaemon()
        defer { second.stop() }
        let shown = try await node.json(ListingJSON.self, ["listing", "show", kept.listingId])
        #expect(shown == updated, "the listing is back exactly as acknowledged (same envelope, version 2)")
        let found = try await node.json(SearchJSON.self, ["search", "teapot"])
        #expect(found.results.map(\.listingId) == [kept.listingId])
        #expect(found.results.first?.price == "29.50")
        let stillRetracted = try await node.failure(["listing", "show", dropped.listingId])
        #expect(stillRetracted.errorLine.contains("retracted"), "\(stillRetracted)")
        let info = try await node.json(NodeInfoJSON.self, ["node", "info"])
        #expect(info.listings.active == 1 && info.listings.retracted == 1)
        let (status, _) = try await second.signal(SIGTERM)
        #expect(status == 0)
    }

    @Test func killedRightAfterCreateStillHasTheListing() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        var ids: [String] = []
        // Several rounds: each create is followed at once by kill -9 and a restart.
        for round in 1...3 {
            let daemon = try await node.startDaemon()
            defer { daemon.stop() }
            let created = try await node.json(
                ListingJSON.self,
                [
                    "listing", "create", "--title", "Crash test item \(round)", "--price", "\(round)", "--category",
                    "misc",
                ])
            try await daemon.signal(SIGKILL)
            ids.append(created.listingId)
        }
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        for id in ids {
            #expect(try await node.json(ListingJSON.self, ["listing", "show", id]).listingId == id)
        }
        let found = try await node.json(
            SearchJSON.self, ["search", "crash", "--sort", "price_asc", "--currency", "EUR"])
        #expect(found.titles == ["Crash test item 1", "Crash test item 2", "Crash test item 3"])
    }
}
