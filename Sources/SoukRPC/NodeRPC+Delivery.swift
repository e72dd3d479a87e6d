import SoukCore
import SoukCrypto
import SoukNode
import SoukStore
import SoukWire

extension NodeRPC {
    /// `delivery.send`, `delivery.status`, `delivery.inbox`: addressed delivery (`Specs/wire.md` §15),
    /// the primitive trade steps and chat are built on, for tools and tests.
    var deliveryMethods: [RPCMethod] {
        let peers = self.peers
        let node = self.node
        return [
            RPCMethod("delivery.send", parameters: ["recipients", "body", "type", "ttl_seconds"]) { p in
                let recipients = try Self.nodeIDs(p, "recipients") ?? []
                guard let body = Hex.decode(try p.string("body")), !body.isEmpty else {
                    throw RPCError.invalidParams("body must be non-empty hex", reason: "invalid_body", field: "body")
                }
                let typeName = try p.optionalString("type") ?? "sealed"
                guard let type = ["sealed": Delivery.BodyType.sealed, "envelope": .envelope][typeName] else {
                    throw RPCError.invalidParams("type must be sealed or envelope", field: "type")
                }
                let ttl = try p.optionalInt("ttl_seconds", range: 60...Int64(Delivery.Limits.maxLifetime)) ?? 7 * 86_400
                do {
                    return Self.json(
                        try await Self.require(peers).deliver(body, type: type, to: recipients, ttl: UInt64(ttl)))
                } catch let e as PeerCommandError {
                    throw RPCError.invalidParams(e.description, reason: "invalid_delivery")
                }
            },
            RPCMethod("delivery.status", parameters: ["delivery_id"]) { p in
                let raw = try p.string("delivery_id")
                guard let id = Hex.decode(raw), id.count == 16 else {
                    throw RPCError.invalidParams("delivery_id must be 32 hex digits", field: "delivery_id")
                }
                guard let status = try await Self.require(peers).deliveryStatus(id) else {
                    throw RPCError(
                        code: RPCError.AppCode.deliveryNotFound,
                        message: "no delivery \(raw) sent by this node is remembered",
                        data: ["delivery_id": .string(raw)])
                }
                return Self.json(status)
            },
            RPCMethod("delivery.inbox", parameters: ["limit"]) { p in
                let limit = Int(try p.optionalInt("limit", range: 1...1_000) ?? 100)
                let items = try node.database.inbox(limit: limit)
                return [
                    "items": .array(
                        items.map { i in
                            [
                                "delivery_id": .string(Hex.encode(i.deliveryID)),
                                "body_hash": .string(Hex.encode(i.bodyHash)),
                                "body": .string(Hex.encode(i.body)), "expires_at": .int(Int64(i.expiresAt)),
                                "received_at": .int(Int64(i.receivedAt)),
                            ]
                        })
                ]
            },
        ]
    }

    static func json(_ s: DeliveryStatus) -> JSONValue {
        let acks = s.acknowledged.sorted { $0.key.hex < $1.key.hex }
        return [
            "delivery_id": .string(Hex.encode(s.id)),
            "body_hash": .string(Hex.encode(s.bodyHash)),
            "expires_at": .int(Int64(s.expires)),
            "handed_to": .array(s.handedTo.map { .string($0.hex) }),
            "acknowledged": .object(
                Dictionary(
                    uniqueKeysWithValues: acks.map { ($0.key.hex, $0.value.map { JSONValue.int(Int64($0)) } ?? .null) })
            ),
            "delivered": .bool(s.delivered),
        ]
    }
}
