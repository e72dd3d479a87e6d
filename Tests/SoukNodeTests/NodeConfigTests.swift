import Foundation
import SoukCore
import SoukNode
import Testing

@Suite("souk.conf parsing")
struct NodeConfigTests {
    /// The `badConfig` message of a parse that must fail.
    private func parseError(_ text: String) -> String? {
        do {
            _ = try NodeConfig(parsing: text)
            return nil
        } catch let NodeError.badConfig(message) {
            return message
        } catch {
            return "unexpected error \(error)"
        }
    }

    @Test func emptyTextGivesDefaults() throws {
        let config = try NodeConfig(parsing: "")
        #expect(config == NodeConfig())
        #expect(config.network == .main)
        #expect(config.rpcBind == "127.0.0.1")
        #expect(config.rpcAllowRemote == false)
        #expect(config.effectiveRPCPort == 7420)
        #expect(config.effectiveP2PPort == 7421)
        #expect(config.peers.isEmpty)
    }

    @Test func everyKeyWithCommentsAndBlankLines() throws {
        let text = """
            # Souk node configuration
              # an indented comment

            network = testnet   # trailing comment
            rpc-port=18000
            rpc-bind =  ::1
            rpc-allow-remote = true
            p2p-port = 18001
            peer = 10.0.0.2:17421
            peer = node.example:17421 # second peer
            """
        let config = try NodeConfig(parsing: text)
        #expect(config.network == .testnet)
        #expect(config.rpcPort == 18000)
        #expect(config.effectiveRPCPort == 18000)
        #expect(config.rpcBind == "::1")
        #expect(config.rpcAllowRemote == true)
        #expect(config.p2pPort == 18001)
        #expect(config.effectiveP2PPort == 18001)
        #expect(config.peers == ["10.0.0.2:17421", "node.example:17421"])
        #expect(
            Set(NodeConfig.knownKeys).isSuperset(of: [
                "network", "rpc-port", "rpc-bind", "rpc-allow-remote", "p2p-port", "peer",
            ]))
    }

    @Test func testnetHasItsOwnDefaultPorts() throws {
        let config = try NodeConfig(parsing: "network = testnet\n")
        #expect(config.effectiveRPCPort == 17420)
        #expect(config.effectiveP2PPort == 17421)
        #expect(try NodeConfig(parsing: "rpc-allow-remote = false").rpcAllowRemote == false)
    }

    @Test func unknownKeyNamesTheLine() throws {
        let message = try #require(parseError("network = main\n# comment\n\nrpc-prot = 7420\n"))
        #expect(message.contains("souk.conf line 4"), "\(message)")
        #expect(message.contains("unknown key \"rpc-prot\""), "\(message)")
        #expect(message.contains("rpc-port"), "the message lists the known keys: \(message)")
        #expect(NodeError.badConfig(message).description.hasPrefix("bad configuration: "))
    }

    @Test func lineWithoutEqualsIsAnError() throws {
        let message = try #require(parseError("network = main\nrpc-port 7420\n"))
        #expect(message == "souk.conf line 2: expected key = value")
    }

    @Test(arguments: ["65536", "-1", "abc", "", "7420.5", "99999999999999999999", "0x1f"])
    func badPortIsAnError(value: String) throws {
        let rpc = try #require(parseError("rpc-port = \(value)"))
        #expect(rpc.hasPrefix("souk.conf line 1: port must be "), "\(rpc)")
        #expect(rpc.hasSuffix("got \"\(value)\""), "the message repeats the bad value: \(rpc)")
        let p2p = try #require(parseError("# x\np2p-port = \(value)"))
        #expect(p2p.hasPrefix("souk.conf line 2: port must be "), "\(p2p)")
    }

    /// A valid sample value for every key the parser knows; a new key must be added here too.
    static let sampleValues: [String: String] = [
        "network": "testnet", "rpc-port": "18000", "rpc-bind": "127.0.0.2", "rpc-allow-remote": "true",
        "p2p-port": "18001", "p2p-bind": "127.0.0.1", "peer": "127.0.0.1:18002", "bootstrap": "127.0.0.1:18003",
        "max-inbound": "5",
        "outbound-target": "3", "ban-seconds": "600", "discover": "false", "local-discovery": "true",
        "arbiter": "true", "mailbox": "true", "arbiter-auto-defaults": "false",
    ]

    @Test func everyKnownKeyIsAccepted() throws {
        for key in NodeConfig.knownKeys {
            guard let value = Self.sampleValues[key] else {
                Issue.record("NodeConfig.knownKeys has \"\(key)\" but this test has no sample value for it")
                continue
            }
            #expect(throws: Never.self, "\(key) = \(value)") { try NodeConfig(parsing: "\(key) = \(value)\n") }
        }
    }

    /// On by default on main, off on testnet (topologies stay as built); the key overrides the
    /// network's default; `discover = false` switches it off whatever the key says.
    @Test func localDiscoveryDefaultsPerNetworkAndFollowsDiscover() throws {
        #expect(try NodeConfig(parsing: "").effectiveLocalDiscovery)
        #expect(try !NodeConfig(parsing: "network = testnet").effectiveLocalDiscovery)
        #expect(try NodeConfig(parsing: "network = testnet\nlocal-discovery = true").effectiveLocalDiscovery)
        #expect(try !NodeConfig(parsing: "local-discovery = false").effectiveLocalDiscovery)
        #expect(try !NodeConfig(parsing: "local-discovery = true\ndiscover = false").effectiveLocalDiscovery)
        #expect(parseError("local-discovery = yes") == "souk.conf line 1: local-discovery must be true or false")
        let shown = try NodeConfig(parsing: "network = testnet").effectiveValues
        #expect(shown.first { $0.key == "local-discovery" }?.value == "false")
    }

    @Test func portBoundsAreAccepted() throws {
        #expect(try NodeConfig(parsing: "rpc-port = 1").rpcPort == 1)
        #expect(try NodeConfig(parsing: "rpc-port = 65535").rpcPort == 65535)
    }

    @Test func badNetworkAndBadBooleanAreErrors() throws {
        #expect(parseError("network = regtest") == "souk.conf line 1: network must be main or testnet")
        #expect(parseError("\n\nrpc-allow-remote = yes") == "souk.conf line 3: rpc-allow-remote must be true or false")
    }

    @Test func fileNameAppearsInTheMessage() throws {
        do {
            _ = try NodeConfig(parsing: "bogus = 1", file: "/tmp/x/souk.conf")
            Issue.record("an unknown key must be refused")
        } catch let NodeError.badConfig(message) {
            #expect(message.hasPrefix("/tmp/x/souk.conf line 1: unknown key \"bogus\""))
        }
    }

    @Test func renderedTextParsesBackToTheSameSettings() throws {
        var config = NodeConfig()
        config.network = .testnet
        config.rpcPort = 19000
        config.p2pPort = 19001
        config.peers = ["127.0.0.1:19101", "127.0.0.1:19102"]
        let reparsed = try NodeConfig(parsing: config.rendered)
        #expect(reparsed.network == .testnet)
        #expect(reparsed.rpcPort == 19000)
        #expect(reparsed.p2pPort == 19001)
        #expect(reparsed.peers == config.peers)
        #expect(reparsed.rpcBind == "127.0.0.1")
        // Defaults render as explicit ports.
        #expect(try NodeConfig(parsing: NodeConfig().rendered).effectiveRPCPort == 7420)
    }

    @Test func loadReadsTheDataDirFileOrDefaults() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = DataDir(path: root)
        #expect(try NodeConfig.load(from: dir) == NodeConfig(), "no souk.conf means defaults")
        try "rpc-port = 12345\n".write(toFile: dir.configFile, atomically: true, encoding: .utf8)
        #expect(try NodeConfig.load(from: dir).rpcPort == 12345)
        try "rpc-port = 12345\nlisten = yes\n".write(toFile: dir.configFile, atomically: true, encoding: .utf8)
        #expect(throws: NodeError.self) { try NodeConfig.load(from: dir) }
    }
}

@Suite("souk.conf bootstrap peers")
struct BootstrapConfigTests {
    @Test("bootstrap lines parse, deduplicate, render, and count among the peers the node dials")
    func parse() throws {
        let c = try NodeConfig(
            parsing: "bootstrap = 192.0.2.1:7421\nbootstrap = [2001:db8::1]:7421\nbootstrap = 192.0.2.1:7421\n")
        #expect(c.bootstrap == ["192.0.2.1:7421", "[2001:db8::1]:7421"])
        #expect(c.configuredPeers == ["192.0.2.1:7421", "[2001:db8::1]:7421"])
        #expect(try NodeConfig(parsing: c.rendered).bootstrap == c.bootstrap)
        #expect(throws: NodeError.self) { try NodeConfig(parsing: "bootstrap = nowhere\n") }
        #expect(throws: NodeError.self) { try NodeConfig(parsing: "bootstrap = host:99999\n") }
    }

    @Test("adding and removing a bootstrap line keeps every other line and comment")
    func edit() throws {
        let text = "# mine\nnetwork = main\nrpc-port = 7420 # the default\n"
        let hp = try #require(HostPort("192.0.2.7:7421"))
        let added = NodeConfig.editingBootstrap(text, address: hp, add: true)
        #expect(added.changed && added.text == text + "bootstrap = 192.0.2.7:7421\n")
        #expect(!NodeConfig.editingBootstrap(added.text, address: hp, add: true).changed, "already there")
        let removed = NodeConfig.editingBootstrap(added.text, address: hp, add: false)
        #expect(removed.changed && removed.text == text)
        #expect(!NodeConfig.editingBootstrap(text, address: hp, add: false).changed, "not there")
        // The same address written differently is the same peer.
        let odd = "bootstrap =   192.0.2.7:07421   # a friend\n"
        #expect(NodeConfig.editingBootstrap(odd, address: hp, add: false).text == "\n")
    }
}
