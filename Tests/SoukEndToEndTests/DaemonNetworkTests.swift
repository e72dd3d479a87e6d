import Foundation
import Testing

/// `souk daemon --network` chooses the network without editing souk.conf; unknown names are refused.
@Suite("end to end: daemon --network", .serialized)
struct DaemonNetworkTests {
    struct Info: Decodable {
        var network: String
    }

    @Test func networkFlagOverridesTheConfig() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()  // souk init writes network main
        let daemon = try await node.startDaemon(["--network", "testnet"])
        defer { daemon.stop() }
        #expect(try await node.json(Info.self, ["node", "info"]).network == "testnet")
    }

    @Test func unknownNetworkListsTheValidOnes() async throws {
        let node = try TestNode()
        defer { node.remove() }
        try await node.initialize()
        let result = try await node.failure(["daemon", "--network", "mainnet"])
        #expect(result.errorLine.contains("unknown --network mainnet"), "\(result)")
        #expect(result.errorLine.contains("main, testnet"), "\(result)")
    }
}
