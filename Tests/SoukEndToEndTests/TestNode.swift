import Foundation
import Testing

/// One node's scratch data dir and RPC port, with helpers that add `--datadir` to every command.
struct TestNode {
    let scratch: Scratch
    let datadir: String
    let port: Int
    /// A free port for the node's peer listener, so parallel tests never collide on the default 7421.
    let p2pPort: Int

    /// A fresh scratch dir and free ports; nothing is created yet.
    init() throws {
        scratch = try Scratch()
        datadir = scratch.path("node")
        port = try Souk.freePort()
        var other = try Souk.freePort()
        while other == port { other = try Souk.freePort() }
        p2pPort = other
    }

    /// `souk init` writing `rpc-port` and `p2p-port` into souk.conf (plus `p2p-bind = 127.0.0.1`), so later
    /// commands need only `--datadir`.
    @discardableResult
    func initialize(_ extra: [String] = []) async throws -> InitJSON {
        let result = try await Souk.json(
            InitJSON.self,
            ["init", "--datadir", datadir, "--rpc-port", "\(port)", "--p2p-port", "\(p2pPort)", "--json"] + extra)
        #expect(result.nodeId.count == 64)
        #expect(result.datadir == datadir)
        // Keep the test node's peer listener on loopback.
        let conf = datadir + "/souk.conf"
        let text = try String(contentsOfFile: conf, encoding: .utf8)
        try (text + "p2p-bind = 127.0.0.1\n").write(toFile: conf, atomically: true, encoding: .utf8)
        return result
    }

    func startDaemon(_ extra: [String] = []) async throws -> Daemon {
        let daemon = try await Daemon.start(datadir: datadir, extra)
        #expect(daemon.port == port, "the daemon serves on souk.conf's rpc-port")
        return daemon
    }

    func run(_ arguments: [String]) async throws -> CommandResult {
        try await Souk.run(arguments + ["--datadir", datadir])
    }

    func json<T: Decodable>(_ type: T.Type, _ arguments: [String]) async throws -> T {
        try await Souk.json(type, arguments + ["--datadir", datadir, "--json"])
    }

    func failure(_ arguments: [String]) async throws -> CommandResult {
        try await Souk.failure(arguments + ["--datadir", datadir])
    }

    func remove() { scratch.remove() }
}
