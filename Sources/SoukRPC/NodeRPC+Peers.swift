import Foundation
import SoukCore
import SoukNode
import SoukStore

extension NodeRPC {
    /// The peer manager, or -32000 when the node runs without networking.
    static func require(_ peers: PeerManager?) throws -> PeerManager {
        guard let peers else {
            throw RPCError(code: RPCError.AppCode.nodeError, message: "networking is disabled on this node")
        }
        return peers
    }

    var peerMethods: [RPCMethod] {
        let peers = self.peers
        return [
            RPCMethod("peer.list") { _ in
                let list = try await Self.require(peers).peerList()
                return ["peers": .array(list.map(Self.peerJSON))]
            },
            RPCMethod("peer.connect", parameters: ["address", "wait"]) { p in
                let address = try p.string("address")
                let wait = try p.optionalBool("wait") ?? false
                let outcome: ConnectOutcome
                do {
                    guard wait else {
                        try await Self.require(peers).connect(address)
                        return ["address": .string(address), "status": "dialing"]
                    }
                    outcome = try await Self.require(peers).connectAndWait(address)
                } catch let e as PeerCommandError {
                    throw RPCError.invalidParams(e.description, reason: "invalid_address", field: "address")
                }
                var o: [String: JSONValue] = ["address": .string(address)]
                switch outcome {
                case .connected(let id):
                    o["status"] = "connected"
                    o["node_id"] = .string(id.hex)
                case .refused(let reason):
                    o["status"] = "refused"
                    o["reason"] = .string(reason)
                case .unreachable:
                    o["status"] = "unreachable"
                    o["reason"] = "no connection could be made (nothing listens there, or it did not answer)"
                case .timedOut:
                    o["status"] = "timeout"
                    o["reason"] = "no handshake within 10 s"
                }
                return .object(o)
            },
            RPCMethod("peer.disconnect", parameters: ["target"]) { p in
                let target = try p.string("target")
                let n = try await Self.require(peers).disconnect(target)
                guard n > 0 else {
                    throw RPCError(
                        code: RPCError.AppCode.peerNotFound, message: "no connected peer matches \(target)",
                        data: ["target": .string(target)])
                }
                return ["disconnected": .int(Int64(n))]
            },
            RPCMethod("peer.ban", parameters: ["target", "seconds", "reason"]) { p in
                let target = try p.string("target")
                let seconds = try p.optionalInt("seconds", range: 1...(10 * 365 * 86_400)) ?? 86_400
                let reason = try p.optionalString("reason") ?? "banned by operator"
                do {
                    let ban = try await Self.require(peers).ban(target, seconds: UInt64(seconds), reason: reason)
                    return Self.banJSON(ban)
                } catch let e as PeerCommandError {
                    throw RPCError.invalidParams(e.description, reason: "invalid_target", field: "target")
                }
            },
            RPCMethod("peer.unban", parameters: ["target"]) { p in
                let target = try p.string("target")
                do {
                    return ["removed": .bool(try await Self.require(peers).unban(target))]
                } catch let e as PeerCommandError {
                    throw RPCError.invalidParams(e.description, reason: "invalid_target", field: "target")
                }
            },
            RPCMethod("peer.bans") { _ in
                ["bans": .array(try await Self.require(peers).bans().map(Self.banJSON))]
            },
            RPCMethod("peer.reconcile") { _ in
                ["started": .int(Int64(try await Self.require(peers).reconcileAll()))]
            },
            RPCMethod("node.stats") { _ in
                let t = try await Self.require(peers).traffic()
                let toJSON: ([String: Int]) -> JSONValue = { d in .object(d.mapValues { .int(Int64($0)) }) }
                return [
                    "bytes_in": toJSON(t.bytesInByType), "bytes_out": toJSON(t.bytesOutByType),
                    "objects": [
                        "received": .int(Int64(t.objectsReceived)), "new": .int(Int64(t.objectsNew)),
                        "duplicate": .int(Int64(t.objectsDuplicate)), "invalid": .int(Int64(t.objectsInvalid)),
                    ],
                ]
            },
            RPCMethod("node.arrivals", parameters: ["object_ids"]) { p in
                let raw = try p.optionalStringArray("object_ids") ?? []
                guard raw.count <= 10_000 else {
                    throw RPCError.invalidParams("at most 10000 object_ids", field: "object_ids")
                }
                var ids: [ObjectID] = []
                for s in raw {
                    guard let id = ObjectID(hex: s) else {
                        throw RPCError.invalidParams("object id \"\(s)\" is not 64 hex digits", field: "object_ids")
                    }
                    ids.append(id)
                }
                let times = try await Self.require(peers).arrivalTimes(ids)
                return [
                    "arrivals": .object(
                        Dictionary(
                            uniqueKeysWithValues: times.map { ($0.key.hex, JSONValue.int(Int64($0.value * 1000))) }))
                ]
            },
        ]
    }

    static func syncJSON(_ peers: PeerManager) async -> JSONValue {
        let s = await peers.syncStatus()
        let hint = await peers.noPeersHint()
        return [
            "hint": hint.map(JSONValue.string) ?? .null,
            "in_sync": .bool(s.inSync),
            "peers_reconciled": .int(Int64(s.peersReconciled)),
            "last_reconciled_at": s.lastReconciledAt.map { .int(Int64($0)) } ?? .null,
            "connected_peers": .int(Int64(s.connectedPeers)),
            "outstanding_requests": .int(Int64(s.outstandingRequests)),
            "reconciliations": .int(Int64(s.reconciliations)),
        ]
    }

    static func peerJSON(_ p: PeerInfo) -> JSONValue {
        [
            "node_id": p.nodeID.map(JSONValue.string) ?? .null,
            "address": .string(p.address),
            "direction": .string(p.direction),
            "since": .int(Int64(p.since)),
            "bytes_in": .int(Int64(p.bytesIn)),
            "bytes_out": .int(Int64(p.bytesOut)),
            "last_message": .string(p.lastMessage),
            "last_message_at": .int(Int64(p.lastMessageAt)),
            "eager": .bool(p.eager),
            "rtt_ms": p.rttMilliseconds.map { .double(($0 * 10).rounded() / 10) } ?? .null,
            "user_agent": .string(p.userAgent),
            "listen_port": .int(Int64(p.listenPort)),
            "reconciled_at": p.reconciledAt.map { .int(Int64($0)) } ?? .null,
            "ready": .bool(p.ready),
            "kinds": .array(p.kinds.map(JSONValue.string)),
            "features": .array(p.features.map(JSONValue.string)),
        ]
    }

    static func banJSON(_ b: BanRecord) -> JSONValue {
        [
            "target": .string(b.target), "until": .int(Int64(b.until)), "reason": .string(b.reason),
            "created_at": .int(Int64(b.createdAt)),
        ]
    }
}
