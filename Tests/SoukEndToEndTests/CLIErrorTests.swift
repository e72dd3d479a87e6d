import Foundation
import Testing

/// Every refusal a person meets first: no daemon, no identity, no data dir, a wrong passphrase,
/// a second daemon, a non-loopback bind. Each is one `Error: …` line and a non-zero exit.
@Suite("end to end: clear CLI errors", .serialized)
struct CLIErrorTests {
    @Test func noDaemonSaysHowToStartIt() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        for command in [["node", "info"], ["listing", "mine"], ["search", "bicycle"], ["rpc", "node.info"]] {
            let result = try await node.failure(command)
            #expect(result.errorLine.contains("no daemon at 127.0.0.1:\(node.port)"), "\(result)")
            #expect(result.errorLine.contains("souk daemon"), "\(result)")
        }
    }

    @Test func noIdentitySaysToRunInit() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let empty = scratch.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let client = try await Souk.failure(["node", "info", "--datadir", empty])
        #expect(client.errorLine.contains("no identity in \(empty)"), "\(client)")
        #expect(client.errorLine.contains("souk init"), "\(client)")
        let daemon = try await Souk.failure(["daemon", "--datadir", empty, "--rpc-port", "\(try Souk.freePort())"])
        #expect(daemon.errorLine.contains("souk init"), "\(daemon)")
    }

    @Test func missingDataDirIsNamed() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let missing = scratch.path("does-not-exist")
        let client = try await Souk.failure(["listing", "mine", "--datadir", missing])
        #expect(client.errorLine.contains("no data dir at \(missing)"), "\(client)")
        #expect(client.errorLine.contains("souk init"), "\(client)")
        let daemon = try await Souk.failure(["daemon", "--datadir", missing, "--rpc-port", "\(try Souk.freePort())"])
        #expect(daemon.errorLine.contains("no data dir at \(missing)"), "\(daemon)")
        #expect(!FileManager.default.fileExists(atPath: missing), "a refused daemon creates nothing")
    }

    @Test func initRefusesToOverwriteAnIdentity() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let first = try await node.initialize()
        let again = try await Souk.failure(["init", "--datadir", node.datadir])
        #expect(again.errorLine.contains("already exists"), "\(again)")
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        #expect(daemon.nodeID == first.nodeId, "the identity is unchanged")
    }

    @Test func encryptedIdentityNeedsTheRightPassphrase() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let right = try node.scratch.write("pass", "correct horse battery staple\n")
        let wrong = try node.scratch.write("wrong", "incorrect horse\n")
        let identity = try await node.initialize(["--passphrase-file", right])
        #expect(identity.encrypted)
        let keyText = try String(contentsOfFile: node.datadir + "/identity.key", encoding: .utf8)
        #expect(keyText.contains("argon2id-xchacha20poly1305") && !keyText.contains("\"seed\""))

        let refused = try await Souk.failure(["daemon", "--datadir", node.datadir, "--passphrase-file", wrong])
        #expect(refused.errorLine.contains("wrong passphrase"), "\(refused)")
        let noPassphrase = try await Souk.failure(["daemon", "--datadir", node.datadir])
        #expect(noPassphrase.errorLine.contains("--passphrase-file"), "\(noPassphrase)")
        let unreadable = try await Souk.failure([
            "daemon", "--datadir", node.datadir, "--passphrase-file", node.scratch.path("nope"),
        ])
        #expect(unreadable.errorLine.contains("cannot read passphrase file"), "\(unreadable)")
        #expect(
            !FileManager.default.fileExists(atPath: node.datadir + "/rpc.cookie"), "refused daemons leave no cookie")

        let daemon = try await node.startDaemon(["--passphrase-file", right])
        defer { daemon.stop() }
        #expect(daemon.nodeID == identity.nodeId)
        let info = try await node.json(NodeInfoJSON.self, ["node", "info"])
        #expect(info.identityEncrypted)
        #expect(info.nodeId == identity.nodeId)
    }

    @Test func secondDaemonOnTheSameDataDirIsRefused() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        let cookie = try String(contentsOfFile: daemon.cookiePath, encoding: .utf8)
        let second = try await Souk.failure([
            "daemon", "--datadir", node.datadir, "--rpc-port", "\(try Souk.freePort())",
        ])
        #expect(second.errorLine.contains("another souk daemon is already using \(node.datadir)"), "\(second)")
        // The first daemon is untouched: same cookie, still answering.
        #expect(try String(contentsOfFile: daemon.cookiePath, encoding: .utf8) == cookie)
        #expect(try await node.json(NodeInfoJSON.self, ["node", "info"]).nodeId == daemon.nodeID)
    }

    @Test func nonLoopbackBindNeedsAnExplicitFlag() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let refused = try await Souk.failure(["daemon", "--datadir", node.datadir, "--rpc-bind", "0.0.0.0"])
        #expect(refused.errorLine.contains("non-loopback"), "\(refused)")
        #expect(refused.errorLine.contains("--rpc-allow-remote"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: node.datadir + "/rpc.cookie"))
        // The same refusal comes from souk.conf.
        let conf = node.datadir + "/souk.conf"
        let original = try String(contentsOfFile: conf, encoding: .utf8)
        try (original + "rpc-bind = 0.0.0.0\n").write(toFile: conf, atomically: true, encoding: .utf8)
        let fromConfig = try await Souk.failure(["daemon", "--datadir", node.datadir])
        #expect(fromConfig.errorLine.contains("--rpc-allow-remote"), "\(fromConfig)")
    }

    @Test func badConfigNamesTheLine() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let conf = node.datadir + "/souk.conf"
        let lines = try String(contentsOfFile: conf, encoding: .utf8).split(separator: "\n").count
        try (try String(contentsOfFile: conf, encoding: .utf8) + "rpc-prot = 1\n").write(
            toFile: conf, atomically: true, encoding: .utf8)
        let refused = try await Souk.failure(["daemon", "--datadir", node.datadir])
        #expect(refused.errorLine.contains("line \(lines + 1)"), "\(refused)")
        #expect(refused.errorLine.contains("unknown key \"rpc-prot\""), "\(refused)")
    }
}

/// A refusal about a search parameter names the CLI flag that sets it.
@Suite("end to end: search refusals name the flag")
struct SearchRefusalTests {
    @Test func priceSortWithoutCurrencyNamesTheCurrencyFlag() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        let r = try await node.failure(["search", "bicycle", "--sort", "price_asc"])
        #expect(r.status == 4, "\(r)")
        #expect(r.errorLine.contains("(give --currency)"), "\(r)")
        #expect(
            r.errorLine.contains("prices in different currencies"), "the rest of the sentence keeps its words: \(r)")
        let ok = try await node.run(["search", "bicycle", "--sort", "price_asc", "--currency", "EUR"])
        #expect(ok.succeeded, "\(ok)")
    }
}
