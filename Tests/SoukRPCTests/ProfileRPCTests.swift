import Foundation
import SoukCore
import SoukCrypto
import SoukNode
import SoukRPC
import Testing

@Suite("profile.get / profile.set over HTTP")
struct ProfileRPCTests {
    static let arbiter = String(repeating: "a1", count: 32)

    @Test("set publishes version 1, then each set the next version keeping unset fields; get returns it")
    func setAndGet() async throws {
        try await withLiveServer { s in
            let missing = try await s.callError("profile.get")
            #expect(missing.code == RPCError.AppCode.profileNotFound)
            #expect(missing.data?["node_id"]?.stringValue == s.node.nodeID.hex)

            let first = try await s.call(
                "profile.set",
                [
                    "display_name": "Alice's bikes", "addresses": ["203.0.113.7:7421", "[2001:db8::7]:7421"],
                    "arbiters": .array([.string(Self.arbiter)]), "languages": ["en", "de-CH"],
                ])
            #expect(first["version"] == 1)
            #expect(first["node_id"]?.stringValue == s.node.nodeID.hex)
            #expect(first["addresses"] == ["203.0.113.7:7421", "[2001:db8::7]:7421"])
            #expect(first["avatar_hash"] == .null)
            // The envelope is the signed object verbatim and verifies.
            let hex = try #require(first["envelope"]?.stringValue)
            let bytes = try #require(Hex.decode(hex))
            let verified = try VerifiedObject(bytes: bytes, now: UInt64(Date().timeIntervalSince1970))
            #expect(verified.kind == .nodeProfile && verified.signer == s.node.identity.publicKey)

            let second = try await s.call("profile.set", ["languages": ["fr"]])
            #expect(second["version"] == 2)
            #expect(second["display_name"] == "Alice's bikes", "unset fields keep their value")
            #expect(second["languages"] == ["fr"])
            #expect(second["arbiters"] == .array([.string(Self.arbiter)]))
            let cleared = try await s.call("profile.set", ["arbiters": []])
            #expect(cleared["arbiters"] == [] && cleared["version"] == 3)

            #expect(try await s.call("profile.get") == cleared)
            #expect(try await s.call("profile.get", ["node_id": .string(s.node.nodeID.hex)]) == cleared)
            let info = try await s.call("node.info")
            #expect(info["objects"]?["node-profile"] == 1, "a replaced version is not kept")
        }
    }

    @Test("refusals name the field and change nothing")
    func refusals() async throws {
        try await withLiveServer { s in
            let noName = try await s.callError("profile.set", ["languages": ["en"]])
            #expect(noName.code == -32602 && noName.data?["reason"] == "invalid_profile")
            _ = try await s.call("profile.set", ["display_name": "Bob"])
            let cases: [(JSONValue, String, String?)] = [
                (["display_name": ""], "invalid_profile", nil),
                (["display_name": " padded"], "invalid_profile", nil),
                (["display_name": .string(String(repeating: "x", count: 65))], "invalid_profile", nil),
                (["addresses": ["no-port"]], "invalid_profile", "addresses"),
                (["addresses": ["host:0"]], "invalid_profile", "addresses"),
                (["addresses": ["a:1", "a:1"]], "invalid_profile", nil),
                (["mailboxes": ["zz"]], "invalid_node_id", "mailboxes"),
                (["arbiters": .array(Array(repeating: .string(Self.arbiter), count: 2))], "invalid_profile", nil),
                (["languages": ["x"]], "invalid_profile", nil),
                (["avatar_hash": "abc"], "invalid_profile", "avatar_hash"),
                (["node_id": "00"], "invalid_params", nil),
                ([:], "invalid_params", nil),
            ]
            for (params, reason, field) in cases {
                let e = try await s.callError("profile.set", params)
                #expect(e.code == -32602, "\(params)")
                if reason != "invalid_params" { #expect(e.data?["reason"]?.stringValue == reason, "\(params)") }
                if let field { #expect(e.data?["field"]?.stringValue == field, "\(params)") }
            }
            let held = try await s.call("profile.get")
            #expect(held["version"] == 1 && held["display_name"] == "Bob", "refusals changed nothing")
            let badID = try await s.callError("profile.get", ["node_id": "not-hex"])
            #expect(badID.code == -32602 && badID.data?["reason"] == "invalid_node_id")
            let stranger = try await s.callError(
                "profile.get", ["node_id": .string(String(repeating: "0b", count: 32))])
            #expect(stranger.code == RPCError.AppCode.profileNotFound)
        }
    }
}
