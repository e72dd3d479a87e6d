import Foundation
import Testing

/// A node alone says what to do; `souk peer add` keeps a bootstrap peer in souk.conf and dials it.
@Suite("end to end: finding peers", .serialized)
struct BootstrapTests {
    struct Info: Decodable {
        var sync: Sync
        var p2p: P2P
        struct Sync: Decodable {
            var hint: String?
            var connectedPeers: Int
        }
        struct P2P: Decodable { var port: Int }
    }

    @Test func aLoneNodeSaysHowToFindPeersAndPeerAddFixesIt() async throws {
        let a = try TestNode()
        let b = try TestNode()
        defer {
            a.remove()
            b.remove()
        }
        try await a.initialize()
        try await b.initialize()
        let da = try await a.startDaemon()
        defer { da.stop() }
        let db = try await b.startDaemon()
        defer { db.stop() }
        let alone = try await a.json(Info.self, ["node", "info"])
        #expect(alone.sync.hint?.contains("souk peer add") == true)
        #expect(da.stderr.contains("souk peer add"), "the startup log says it too")

        let added = try await a.run(["peer", "add", "127.0.0.1:\(b.p2pPort)"])
        #expect(added.succeeded, "\(added)")
        let conf = try String(contentsOfFile: a.datadir + "/souk.conf", encoding: .utf8)
        #expect(conf.contains("bootstrap = 127.0.0.1:\(b.p2pPort)\n"))
        let deadline = Date().addingTimeInterval(15)
        var info = try await a.json(Info.self, ["node", "info"])
        while info.sync.connectedPeers == 0 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            info = try await a.json(Info.self, ["node", "info"])
        }
        #expect(info.sync.connectedPeers == 1 && info.sync.hint == nil)

        let again = try await a.failure(["peer", "add", "127.0.0.1:\(b.p2pPort)"])
        #expect(again.errorLine.contains("already a bootstrap peer"), "\(again)")
        let bad = try await a.failure(["peer", "add", "nowhere"])
        #expect(bad.errorLine.contains("HOST:PORT"), "\(bad)")
        let removed = try await a.run(["peer", "remove", "127.0.0.1:\(b.p2pPort)"])
        #expect(removed.succeeded, "\(removed)")
        #expect(!(try String(contentsOfFile: a.datadir + "/souk.conf", encoding: .utf8)).contains("bootstrap"))
    }
}

@Suite("end to end: peer connect reports its outcome", .serialized)
struct PeerConnectTests {
    @Test func connectedRefusedUnreachable() async throws {
        let a = try TestNode()
        let b = try TestNode()
        let t = try TestNode()
        defer {
            a.remove()
            b.remove()
            t.remove()
        }
        try await a.initialize()
        try await b.initialize()
        try await t.initialize(["--network", "testnet"])
        let da = try await a.startDaemon()
        defer { da.stop() }
        let db = try await b.startDaemon()
        defer { db.stop() }
        let dt = try await t.startDaemon()
        defer { dt.stop() }

        let ok = try await a.run(["peer", "connect", "127.0.0.1:\(b.p2pPort)"])
        #expect(ok.succeeded && ok.stdout.contains("connected to \(db.nodeID)"), "\(ok)")
        let other = try await a.run(["peer", "connect", "127.0.0.1:\(t.p2pPort)"])
        #expect(other.status == 4 && other.stdout.contains("refused") && other.stdout.contains("network"), "\(other)")
        let closed = try Souk.freePort()
        let nobody = try await a.run(["peer", "connect", "127.0.0.1:\(closed)"])
        #expect(nobody.status == 4 && nobody.stdout.contains("unreachable"), "\(nobody)")
        // Disconnect by the 16-digit prefix `peer list` shows.
        let gone = try await a.run(["peer", "disconnect", String(db.nodeID.prefix(16))])
        #expect(gone.succeeded, "\(gone)")
    }
}
