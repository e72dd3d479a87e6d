import Foundation
import Testing

/// Exit codes tell failures apart (README "Exit codes"), `--json` prints errors as JSON too, and
/// errors name the CLI flag rather than the RPC field.
@Suite("end to end: exit codes and errors a person can act on", .serialized)
struct ExitCodeTests {
    @Test func exitCodesAndJSONErrors() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        // 3: not running.
        let down = try await node.failure(["node", "info"])
        #expect(down.status == 3, "\(down)")
        let downJSON = try await node.run(["node", "info", "--json"])
        #expect(downJSON.status == 3)
        let parsed = try JSONSerialization.jsonObject(with: Data(downJSON.stderr.utf8)) as? [String: Any]
        let error = parsed?["error"] as? [String: Any]
        #expect(error?["kind"] as? String == "not_running", "\(downJSON)")
        #expect((error?["message"] as? String)?.contains("no daemon") == true)

        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        // 5: not found.
        let missing = try await node.failure(["listing", "show", String(repeating: "ab", count: 16)])
        #expect(missing.status == 5, "\(missing)")
        // 4: refused, naming the flag.
        let negative = try await node.failure(
            ["listing", "create", "--title", "Lamp", "--price", "-5", "--currency", "EUR", "--category", "home"])
        #expect(negative.status == 4 && negative.errorLine.contains("negative prices are not allowed"), "\(negative)")
        let days = try await node.failure(
            [
                "listing", "create", "--title", "Lamp", "--price", "5", "--currency", "EUR", "--category", "home",
                "--expires-in-days", "40",
            ])
        #expect(days.status == 4 && days.errorLine.contains("--expires-in-days"), "\(days)")
        #expect(!days.errorLine.contains("expires_in_days"), "the RPC field is not what the user typed")
        let refusedJSON = try await node.run(["listing", "show", "nothex", "--json"])
        #expect(refusedJSON.status == 4 && refusedJSON.stderr.contains("\"rpc_code\":-32602"), "\(refusedJSON)")
    }
}

@Suite("end to end: plain sentences for busy ports, log levels, CRLF passphrase files", .serialized)
struct PlainErrorTests {
    @Test func busyPortsAreOneSentence() async throws {
        let a = try TestNode()
        let b = try TestNode()
        defer {
            a.remove()
            b.remove()
        }
        try await a.initialize()
        try await b.initialize()
        let daemon = try await a.startDaemon()
        defer { daemon.stop() }
        let rpc = try await b.failure(["daemon", "--rpc-port", "\(a.port)"])
        #expect(rpc.errorLine.contains("already in use") && rpc.errorLine.contains("--rpc-port"), "\(rpc)")
        #expect(!rpc.errorLine.contains("bind("), "no raw bind error")
        let p2p = try await b.failure(["daemon", "--p2p-port", "\(a.p2pPort)"])
        #expect(p2p.errorLine.contains("already in use") && p2p.errorLine.contains("--p2p-port"), "\(p2p)")
    }

    @Test func unknownLogLevelListsTheValidOnes() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let r = try await node.failure(["daemon", "--log-level", "verbose"])
        #expect(r.errorLine.contains("valid: trace, debug, info, notice, warning, error, critical"), "\(r)")
    }

    @Test func aPassphraseFileWithCRLFWorks() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let file = try node.scratch.write("pass.txt", "correct horse\r\n")
        try await node.initialize(["--passphrase-file", file])
        let daemon = try await Daemon.start(datadir: node.datadir, ["--passphrase-file", file])
        defer { daemon.stop() }
        // The same passphrase without the CR unlocks it too: the CR was never part of it.
        let lf = try node.scratch.write("pass-lf.txt", "correct horse\n")
        daemon.stop()
        let again = try await Daemon.start(datadir: node.datadir, ["--passphrase-file", lf])
        again.stop()
    }
}

@Suite("end to end: souk config show", .serialized)
struct ConfigShowTests {
    struct Shown: Decodable {
        var settings: [String: Setting]
        struct Setting: Decodable {
            var value: String
            var source: String
        }
    }

    @Test func everySettingWithItsSource() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let shown = try await node.json(Shown.self, ["config", "show"])
        #expect(shown.settings["rpc-port"]?.value == "\(node.port)")
        #expect(shown.settings["rpc-port"]?.source.hasSuffix("souk.conf line 3") == true, "\(shown.settings)")
        #expect(shown.settings["max-inbound"]?.value == "64" && shown.settings["max-inbound"]?.source == "default")
        // Every key souk.conf knows, each shown once (NodeConfig.knownKeys).
        #expect(
            Set(shown.settings.keys) == [
                "network", "rpc-port", "rpc-bind", "rpc-allow-remote", "p2p-port", "p2p-bind", "peer", "bootstrap",
                "max-inbound", "outbound-target", "ban-seconds", "discover", "local-discovery", "arbiter", "mailbox",
                "arbiter-auto-defaults",
            ], "\(shown.settings.keys.sorted())")
        #expect(
            shown.settings["local-discovery"]?.value == "true" && shown.settings["local-discovery"]?.source == "default"
        )
        let text = try await node.run(["config", "show"])
        #expect(text.succeeded && text.stdout.contains("discover") && text.stdout.contains("default"), "\(text)")
    }
}

@Suite("end to end: souk help METHOD and named parameters", .serialized)
struct NamedParamsTests {
    struct Mine: Decodable {
        var listings: [Listing]
        var nextCursor: String?
        struct Listing: Decodable { var title: String }
    }

    @Test func helpAndNamedParams() async throws {
        let help = try await Souk.run(["help", "listing.search"])
        #expect(help.succeeded && help.stdout.contains("Parameters:") && help.stdout.contains("query"), "\(help)")
        let nope = try await Souk.failure(["help", "no.such"])
        #expect(nope.status == 5, "\(nope)")

        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        for title in ["Lamp one", "Lamp two", "Lamp three"] {
            let r = try await node.run([
                "rpc", "listing.create", "title=\(title)", "price=5", "currency=EUR", "category=home",
            ])
            #expect(r.succeeded, "\(r)")
        }
        let page = try await node.run(["rpc", "listing.mine", "limit=2", "include_expired=false"])
        #expect(page.succeeded, "\(page)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let mine = try decoder.decode(Mine.self, from: Data(page.stdout.utf8))
        #expect(mine.listings.count == 2 && mine.nextCursor != nil)
        let bad = try await node.failure(["rpc", "listing.mine", "limit"])
        #expect(bad.status == 4 && bad.errorLine.contains("key=value"), "\(bad)")
    }
}

@Suite("end to end: a key file others can read is refused", .serialized)
struct KeyFileModeTests {
    @Test func worldReadableKeyFileIsOneSentence() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let key = node.datadir + "/identity.key"
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)
        let r = try await node.failure(["daemon"])
        #expect(
            r.errorLine.contains("can be read by other users (mode 644)") && r.errorLine.contains("chmod 600"), "\(r)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        let daemon = try await node.startDaemon()
        daemon.stop()
    }
}

@Suite("end to end: identity passphrase, backup and restore", .serialized)
struct IdentityTests {
    struct Out: Decodable {
        var nodeId: String
    }

    @Test func changeBackupRestore() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let a = try node.scratch.write("a.txt", "first passphrase\n")
        let b = try node.scratch.write("b.txt", "second passphrase\n")
        let c = try node.scratch.write("c.txt", "backup passphrase\n")
        let identity = try await node.initialize(["--passphrase-file", a])
        let wrong = try await node.failure([
            "identity", "passphrase", "--passphrase-file", b, "--new-passphrase-file", c,
        ])
        #expect(wrong.status == 4 && wrong.errorLine.contains("wrong passphrase"), "\(wrong)")
        let changed = try await node.run(["identity", "passphrase", "--passphrase-file", a, "--new-passphrase-file", b])
        #expect(changed.succeeded, "\(changed)")
        let old = try await node.failure(["daemon", "--passphrase-file", a])
        #expect(old.errorLine.contains("wrong passphrase"), "\(old)")
        let daemon = try await Daemon.start(datadir: node.datadir, ["--passphrase-file", b])
        #expect(daemon.nodeID == identity.nodeId, "the node id stays the same")
        daemon.stop()

        let backup = node.scratch.path("backup.key")
        let exported = try await node.json(
            Out.self, ["identity", "export", "--passphrase-file", b, "--backup-passphrase-file", c, "--out", backup])
        #expect(exported.nodeId == identity.nodeId)
        let mode = try FileManager.default.attributesOfItem(atPath: backup)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try await node.failure(
            ["identity", "export", "--passphrase-file", b, "--backup-passphrase-file", c, "--out", backup])
        #expect(again.errorLine.contains("refusing to overwrite"), "\(again)")

        let restored = node.scratch.path("restored")
        let badBackup = try await Souk.failure(
            ["identity", "import", backup, "--backup-passphrase-file", a, "--datadir", restored])
        #expect(badBackup.errorLine.contains("wrong passphrase"), "\(badBackup)")
        let imported = try await Souk.json(
            Out.self, ["identity", "import", backup, "--backup-passphrase-file", c, "--datadir", restored, "--json"])
        #expect(imported.nodeId == identity.nodeId)
        let twice = try await Souk.failure([
            "identity", "import", backup, "--backup-passphrase-file", c, "--datadir", restored,
        ])
        #expect(twice.errorLine.contains("already exists"), "\(twice)")
    }
}
