import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

@Suite("Addressed delivery: messages and end-to-end acknowledgements")
struct DeliveryTests {
    static let recipient = NodeID(publicKey: Fixture.responder.publicKey)!

    static func delivery(body: [UInt8] = [9, 9, 9], recipients: [NodeID] = [recipient]) -> Delivery {
        Delivery(
            id: Array(repeating: 0xab, count: 16), hops: 2, expires: Fixture.time, recipients: recipients,
            bodyType: .envelope, body: body)
    }

    @Test("deliver and delivered round-trip")
    func roundTrip() throws {
        let d = Self.delivery()
        #expect(try PeerMessage(decoding: PeerMessage.deliver(d).encoded()) == .deliver(d))
        let ack = DeliveryAck(signing: d, network: "testnet", key: Fixture.responder)
        #expect(try PeerMessage(decoding: PeerMessage.delivered(ack).encoded()) == .delivered(ack))
        #expect(PeerMessage.deliver(d).typeByte == 0x82 && PeerMessage.delivered(ack).typeByte == 0x83)
    }

    @Test("an acknowledgement verifies only for its recipient, network, delivery and exact body")
    func ackBindsEverything() {
        let d = Self.delivery()
        let ack = DeliveryAck(signing: d, network: "testnet", key: Fixture.responder)
        #expect(ack.verifies(network: "testnet"))
        #expect(!ack.verifies(network: "main"), "a testnet acknowledgement never counts on main")
        var otherBody = ack
        otherBody.bodyHash = Self.delivery(body: [1]).bodyHash
        #expect(!otherBody.verifies(network: "testnet"))
        var otherID = ack
        otherID.deliveryID[0] ^= 1
        #expect(!otherID.verifies(network: "testnet"))
        // A relay cannot acknowledge in the recipient's name: its own signature names itself.
        var forged = DeliveryAck(signing: d, network: "testnet", key: Fixture.initiator)
        #expect(forged.verifies(network: "testnet") && forged.recipient != Self.recipient)
        forged.recipient = Self.recipient
        #expect(!forged.verifies(network: "testnet"))
    }

    @Test("malformed deliveries are refused: hops, recipient count and duplicates, body type, empty or oversized body")
    func refusals() {
        func encoded(_ edit: (inout Delivery) -> Void) -> [UInt8] {
            var d = Self.delivery()
            edit(&d)
            return PeerMessage.deliver(d).encoded()
        }
        let other = NodeID(publicKey: Fixture.initiator.publicKey)!
        let cases: [[UInt8]] = [
            encoded { $0.hops = 3 },
            encoded { $0.recipients = [] },
            encoded { $0.recipients = [other, other] },
            encoded {
                $0.recipients = [
                    other, Self.recipient, NodeID(publicKey: [UInt8](repeating: 5, count: 32))!,
                    NodeID(publicKey: [UInt8](repeating: 6, count: 32))!,
                ]
            },
            encoded { $0.body = [] },
            encoded { $0.body = [UInt8](repeating: 1, count: Delivery.Limits.maxBodyBytes + 1) },
        ]
        for bytes in cases {
            #expect(throws: WireError.self) { try PeerMessage(decoding: bytes) }
        }
        var badType = PeerMessage.deliver(Self.delivery()).encoded()
        badType[1 + 16 + 1 + 5 + 1 + 32] = 9  // id, hops, expires (5-byte varint), count, recipient
        #expect(throws: WireError.self) { try PeerMessage(decoding: badType) }
        let largest = encoded { $0.body = [UInt8](repeating: 1, count: Delivery.Limits.maxBodyBytes) }
        #expect(throws: Never.self) { try PeerMessage(decoding: largest) }
        #expect(throws: WireError.self) {
            try PeerMessage(
                decoding: PeerMessage.delivered(
                    DeliveryAck(signing: Self.delivery(), network: "t", key: Fixture.responder)
                ).encoded().dropLast())
        }
    }
}
