import Logging
public import SoukCore
import SoukCrypto
import SoukStore
public import SoukWire

/// What this node knows about a delivery it sent: which recipients acknowledged, and when.
public struct DeliveryStatus: Sendable, Equatable {
    public var id: [UInt8]
    public var bodyHash: [UInt8]
    public var createdAt: Double
    public var expires: UInt64
    /// Each recipient with the time its signed acknowledgement arrived, or `nil` while pending.
    public var acknowledged: [NodeID: Double?]
    /// The links the delivery was handed to (node ids).
    public var handedTo: [NodeID]

    /// Delivered means acknowledged by every recipient; a relay's receipt never counts.
    public var delivered: Bool { acknowledged.values.allSatisfy { $0 != nil } }
}

/// Deliveries in flight through this node: the ones it sent (for their acknowledgements) and the
/// ones it relayed (to route acknowledgements back). Both bounded; oldest forgotten first.
struct DeliveryBook {
    static let capacity = 10_000
    var sent: [[UInt8]: DeliveryStatus] = [:]
    var sentOrder = BoundedFIFO<[UInt8]>(capacity: capacity)
    /// Delivery id → the link it came from.
    var relayed: [[UInt8]: Int] = [:]
    var relayedOrder = BoundedFIFO<[UInt8]>(capacity: capacity)

    mutating func remember(sent status: DeliveryStatus) {
        sent[status.id] = status
        if let dropped = sentOrder.append(status.id) { sent[dropped] = nil }
    }

    mutating func remember(relayed id: [UInt8], from key: Int) {
        relayed[id] = key
        if let dropped = relayedOrder.append(id) { relayed[dropped] = nil }
    }
}

extension PeerManager {
    /// Sends `body` to `recipients` by addressed delivery (`Specs/wire.md` §15): directly to each
    /// recipient that is connected and advertises the `deliver` feature, and through the other
    /// peers that do (one hop) for those that are not.
    /// Nothing is announced or stored for anyone else. Acknowledgements arrive later; see
    /// `deliveryStatus`.
    /// - Throws: `PeerCommandError` for no recipients, too many, or a body over the limit.
    public func deliver(
        _ body: [UInt8], type: Delivery.BodyType, to recipients: [NodeID], ttl: UInt64 = 7 * 24 * 3600
    ) throws(PeerCommandError) -> DeliveryStatus {
        guard (1...Delivery.Limits.maxRecipients).contains(recipients.count), Set(recipients).count == recipients.count
        else {
            throw PeerCommandError(
                description: "a delivery needs 1 to \(Delivery.Limits.maxRecipients) distinct recipients")
        }
        guard !body.isEmpty, body.count <= Delivery.Limits.maxBodyBytes else {
            throw PeerCommandError(description: "a delivery body must be 1 to \(Delivery.Limits.maxBodyBytes) bytes")
        }
        let now = now()
        let delivery = Delivery(
            id: (0..<16).map { _ in UInt8(truncatingIfNeeded: random.next()) }, hops: 1,
            expires: UInt64(now) + min(ttl, Delivery.Limits.maxLifetime), recipients: recipients, bodyType: type,
            body: body)
        var status = DeliveryStatus(
            id: delivery.id, bodyHash: delivery.bodyHash, createdAt: now, expires: delivery.expires,
            acknowledged: Dictionary(uniqueKeysWithValues: recipients.map { ($0, nil) }), handedTo: [])
        let capable = peers.values.filter { $0.ready && $0.features.contains("deliver") && $0.nodeID != nil }
        let direct = capable.filter { recipients.contains($0.nodeID!) }
        let viaRelays = direct.count < recipients.count ? capable.filter { !recipients.contains($0.nodeID!) } : []
        for p in direct + viaRelays {
            sendMessage(.deliver(delivery), to: p.key)
            status.handedTo.append(p.nodeID!)
        }
        deliveries.remember(sent: status)
        logger.debug(
            "delivery sent",
            metadata: ["delivery.id": "\(Hex.encode(delivery.id))", "delivery.links": "\(status.handedTo.count)"])
        return status
    }

    /// What is known of a delivery this node sent (while it is remembered).
    public func deliveryStatus(_ id: [UInt8]) -> DeliveryStatus? { deliveries.sent[id] }

    /// A `deliver` message from link `key`: commit and acknowledge it if this node is a recipient,
    /// else forward it one hop towards connected recipients.
    func received(delivery: Delivery, from key: Int, now: Double) async {
        guard delivery.expires > UInt64(now), delivery.expires <= UInt64(now) + Delivery.Limits.maxLifetime + 600 else {
            logger.debug(
                "delivery dropped: expired or too far ahead", metadata: ["delivery.id": "\(Hex.encode(delivery.id))"])
            return
        }
        if delivery.recipients.contains(node.nodeID) {
            guard await commit(delivery, now: now) else { return }
            // Back on the link it came from, whatever that peer advertised: it sent a deliver.
            let ack = DeliveryAck(signing: delivery, network: settings.network, key: node.identity)
            sendMessage(.delivered(ack), to: key)
            if delivery.bodyType == .sealed { await processInbox() }
        }
        // A resend of mail this node holds: answered with the recipient's ack once it has one.
        if settings.mailbox, !delivery.recipients.contains(node.nodeID), (try? node.database.mail(delivery.id)) != nil {
            _ = holdForRecipient(delivery, from: key, now: now)
            return
        }
        // Towards the (other) recipients connected here, once per delivery id, never back.
        guard delivery.hops > 0, deliveries.relayed[delivery.id] == nil else { return }
        var next = delivery
        next.hops -= 1
        let targets = peers.values.filter { p in
            p.key != key && p.ready && p.features.contains("deliver") && p.nodeID != node.nodeID
                && p.nodeID.map(delivery.recipients.contains) == true
        }
        guard !targets.isEmpty else {
            // No recipient linked here: a mailbox holds it for them.
            _ = holdForRecipient(delivery, from: key, now: now)
            return
        }
        deliveries.remember(relayed: delivery.id, from: key)
        for t in targets { sendMessage(.deliver(next), to: t.key) }
    }

    /// Commits a delivery addressed to this node. - Returns: whether it may be acknowledged.
    private func commit(_ delivery: Delivery, now: Double) async -> Bool {
        switch delivery.bodyType {
        case .sealed:
            do {
                let outcome = try node.database.storeInbox(
                    deliveryID: delivery.id, bodyHash: delivery.bodyHash, body: delivery.body,
                    expiresAt: delivery.expires, now: UInt64(now))
                // Only the body held under this id may be acknowledged: an ack names exact bytes.
                return outcome == .stored || outcome == .duplicate
            } catch {
                logger.error("storing a delivery failed", metadata: ["error": "\(error)"])
                return false
            }
        case .envelope:
            // The relay cannot check the inner object; the recipient does, and an invalid one is
            // simply not acknowledged (the link that carried it is not to blame).
            guard let result = try? await node.ingestBatch([delivery.body]).first else { return false }
            switch result {
            case .refused: return false
            case .applied(let outcome, _):
                switch outcome {
                case .deferred, .rejected, .quotaExceeded: return false
                default: return true
                }
            }
        }
    }

    /// A `delivered` message: record it if we sent the delivery, route it back if we relayed it.
    /// An acknowledgement whose signature does not verify is a rule broken by the link (ban).
    func received(ack: DeliveryAck, from key: Int, now: Double) {
        guard ack.verifies(network: settings.network) else {
            closePeer(key, reason: "sent a delivery acknowledgement that does not verify", misbehaving: true)
            return
        }
        if (try? node.database.isOutboxDelivery(ack.deliveryID)) == true {
            // Ours: counts only when the recipient acknowledges the exact body sent.
            if (try? node.database.acknowledge(
                deliveryID: ack.deliveryID, by: ack.recipient, bodyHash: ack.bodyHash, now: UInt64(now))) == true
            {
                logger.debug(
                    "trade delivery acknowledged",
                    metadata: ["delivery.id": "\(Hex.encode(ack.deliveryID))", "peer.id": "\(ack.recipient)"])
            }
            return
        }
        recordMailboxAck(ack)
        if var status = deliveries.sent[ack.deliveryID] {
            guard status.bodyHash == ack.bodyHash, status.acknowledged.keys.contains(ack.recipient),
                status.acknowledged[ack.recipient] == .some(nil)
            else { return }
            status.acknowledged[ack.recipient] = now
            deliveries.sent[ack.deliveryID] = status
            logger.debug(
                "delivery acknowledged",
                metadata: ["delivery.id": "\(Hex.encode(ack.deliveryID))", "peer.id": "\(ack.recipient)"])
        } else if let origin = deliveries.relayed[ack.deliveryID], peers[origin] != nil {
            sendMessage(.delivered(ack), to: origin)
        }
    }
}
