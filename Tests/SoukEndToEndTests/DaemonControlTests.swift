import Foundation
import Testing

/// Running a node like bitcoind or kubo: the CLI finds its daemon through the `api` file, global
/// options go before or after the subcommand, `souk stop`, and ports outside 0-65535 are refused.
@Suite("end to end: finding and stopping the daemon", .serialized)
struct DaemonControlTests {
    struct Info: Decodable {
        var rpc: Address
        struct Address: Decodable { var port: Int }
    }

    @Test func theCLIFindsADaemonOnAPortSoukConfDoesNotName() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let other = try Souk.freePort()
        let daemon = try await Daemon.start(datadir: node.datadir, ["--rpc-port", "\(other)"])
        defer { daemon.stop() }
        #expect(daemon.port == other && other != node.port)
        // No --rpc-port: the api file names the daemon's port.
        #expect(try await node.json(Info.self, ["node", "info"]).rpc.port == other)
        let api = try String(contentsOfFile: node.datadir + "/api", encoding: .utf8)
        #expect(api.contains("rpc 127.0.0.1:\(other)\n") && api.contains("pid \(daemon.pid)\n"))
        #expect(try String(contentsOfFile: node.datadir + "/souk.pid", encoding: .utf8) == "\(daemon.pid)\n")
    }

    @Test func anOSAssignedPortWorksWithTheDataDirAlone() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await Daemon.start(datadir: node.datadir, ["--rpc-port", "0"])
        defer { daemon.stop() }
        #expect(try await node.json(Info.self, ["node", "info"]).rpc.port == daemon.port)
        // Global options before the subcommand, too.
        let before = try await Souk.json(Info.self, ["--datadir", node.datadir, "--json", "node", "info"])
        #expect(before.rpc.port == daemon.port)
        let mixed = try await Souk.run(["--json", "node", "info", "--datadir", node.datadir])
        #expect(mixed.succeeded, "\(mixed)")
    }

    @Test func stopShutsTheDaemonDownAndRemovesItsFiles() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await node.startDaemon()
        let stopped = try await node.run(["stop"])
        #expect(stopped.succeeded, "\(stopped)")
        #expect(stopped.stdout.contains("souk daemon stopped"))
        let exit = try await daemon.signal(0)  // waits for the exit; signal 0 sends nothing
        #expect(exit.status == 0 && !exit.signaled)
        for file in ["api", "souk.pid", "rpc.cookie"] {
            #expect(!FileManager.default.fileExists(atPath: node.datadir + "/" + file), "\(file) left behind")
        }
        let again = try await node.failure(["stop"])
        #expect(again.errorLine.contains("no daemon"), "\(again)")
    }

    @Test func aStaleAPIFileFromACrashIsIgnored() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        // A pid that cannot be running, and a port nothing listens on.
        try "rpc 127.0.0.1:1\npid 999999999\n".write(toFile: node.datadir + "/api", atomically: true, encoding: .utf8)
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        #expect(try await node.json(Info.self, ["node", "info"]).rpc.port == node.port)
    }

    @Test func portsOutsideTheRangeAreRefusedEverywhere() async throws {
        let node = try TestNode()
        defer { node.remove() }
        let refused = try await Souk.failure(["init", "--datadir", node.datadir, "--rpc-port", "99999"])
        #expect(refused.errorLine.contains("--rpc-port must be 0 to 65535, got 99999"), "\(refused)")
        let p2p = try await Souk.failure(["init", "--datadir", node.datadir, "--p2p-port", "70000"])
        #expect(p2p.errorLine.contains("--p2p-port must be 0 to 65535, got 70000"), "\(p2p)")
        #expect(
            !FileManager.default.fileExists(atPath: node.datadir + "/identity.key"), "a refused init creates nothing")
        try await node.initialize()
        for args in [
            ["daemon", "--rpc-port", "65536"], ["daemon", "--p2p-port=-1"], ["node", "info", "--rpc-port", "72956"],
        ] {
            let r = try await node.failure(args)
            #expect(r.errorLine.contains("must be 0 to 65535"), "\(r)")
        }
    }

    struct Created: Decodable {
        var listingId: String
        var expiresAt: Int
    }

    @Test func textOutputShowsLocalTimesNotUnixSeconds() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await node.startDaemon()
        defer { daemon.stop() }
        let created = try await node.json(
            Created.self,
            ["listing", "create", "--title", "Lamp", "--price", "5", "--currency", "EUR", "--category", "home"])
        let shown = try await node.run(["listing", "show", created.listingId])
        #expect(shown.succeeded, "\(shown)")
        #expect(!shown.stdout.contains("\(created.expiresAt)"), "no bare Unix seconds: \(shown.stdout)")
        let pattern = #/expires:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2}/#
        #expect(shown.stdout.contains(pattern), "\(shown.stdout)")
    }
}

@Suite("end to end: --detach, the log file, SIGHUP", .serialized)
struct DetachAndLogTests {
    @Test func detachReturnsOnceReadyAndStopStopsIt() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let started = try await node.run(["daemon", "--detach"])
        #expect(started.succeeded && started.stdout.contains("started in the background"), "\(started)")
        let info = try await node.run(["node", "info"])
        #expect(info.succeeded, "ready when --detach returned: \(info)")
        let pid = try #require(
            Int32(
                try String(contentsOfFile: node.datadir + "/souk.pid", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        // SIGHUP reopens the log file instead of stopping the node.
        let log = node.datadir + "/souk.log"
        try FileManager.default.moveItem(atPath: log, toPath: log + ".old")
        kill(pid, SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: log) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("log file reopened"))
        #expect(try await node.run(["node", "info"]).succeeded, "still running after SIGHUP")
        let stopped = try await node.run(["stop"])
        #expect(stopped.succeeded, "\(stopped)")
        // Exited: gone, or a zombie waiting for its (re)parent to reap it.
        let exited = { () -> Bool in
            if kill(pid, 0) != 0 { return true }
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") == true
        }
        #expect(exited(), "the detached daemon exited")
        // A detached start that fails says why.
        let other = try TestNode()
        defer { other.remove() }
        let failed = try await other.failure(["daemon", "--detach"])
        #expect(failed.errorLine.contains("no data dir"), "\(failed)")
    }

    @Test func theLogFileRotatesPastItsSize() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let daemon = try await node.startDaemon(["--log-level", "debug", "--log-max-kib", "1"])
        defer { daemon.stop() }
        for _ in 0..<20 { _ = try await node.run(["node", "info"]) }
        let log = node.datadir + "/souk.log"
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: log + ".1") && Date() < deadline {
            _ = try await node.run(["node", "info"])
        }
        #expect(FileManager.default.fileExists(atPath: log + ".1"), "rotated to souk.log.1")
        let size = (try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? .max
        #expect(size <= 2_048, "the current file stays near the cap (\(size) bytes)")
    }
}
