import Foundation
import Logging
public import SoukCore
import SoukCrypto
import SoukStore
import SoukWire

/// Delivery between trade parties (`Specs/trade.md` §9): the persistent outbox, sealed bundles,
/// routing (direct, else the recipient's mailboxes, else one-hop relays), opening what arrives,
/// digests that repair a trade's step set, and the mailbox service for others.
extension PeerManager {
    /// How long a trade delivery is carried (and held by mailboxes).
    static let tradeDeliveryLifetime: UInt64 = 30 * 24 * 3600

    /// Sends every outbox item that is due.
    func flushOutbox() async {
        let now = UInt64(now())
        guard let due = try? node.database.dueOutbox(now: now), !due.isEmpty else { return }
        for item in due { send(item, now: now) }
    }

    /// One attempt for one outbox item: seal it on the first attempt (and keep those bytes), route
    /// it, schedule the next attempt by the backoff.
    func send(_ item: OutboxItem, now: UInt64) {
        var body = item.body
        if body == nil {
            guard let envelope = try? node.database.envelope(item.objectID) else { return }
            let privateBlob = (try? node.database.tradePrivate(item.objectID)) ?? []
            guard let plain = TradeBundle(envelopes: [envelope], privateBlob: privateBlob).encoded(),
                let sealed = try? SealedBox.seal(plain, to: item.recipient.publicKey)
            else {
                logger.error("an outbox item cannot be sealed", metadata: ["object.id": "\(item.objectID)"])
                return
            }
            try? node.database.setOutboxBody(deliveryID: item.deliveryID, body: sealed)
            body = sealed
        }
        let delivery = Delivery(
            id: item.deliveryID, hops: 1, expires: item.createdAt + Self.tradeDeliveryLifetime,
            recipients: [item.recipient], bodyType: .sealed, body: body!)
        let via = route(delivery, to: item.recipient, now: now)
        try? node.database.recordAttempt(item, now: now)
        logger.debug(
            "trade delivery attempt",
            metadata: [
                "object.id": "\(item.objectID)", "peer.id": "\(item.recipient)", "attempt": "\(item.attempts + 1)",
                "via": "\(via)",
            ])
    }

    /// Hands a delivery towards its recipient: directly when linked; else to its linked mailbox
    /// nodes; else to every linked peer that relays (one hop). Dials the recipient and its
    /// mailboxes (addresses from their node profiles) when not linked, for the next attempt.
    /// - Returns: how it went (`direct`, `mailbox`, `relay`, `none`), for logs.
    @discardableResult
    func route(_ delivery: Delivery, to recipient: NodeID, now: UInt64) -> String {
        let capable = peers.values.filter { $0.ready && $0.features.contains("deliver") && $0.nodeID != nil }
        if let direct = capable.first(where: { $0.nodeID == recipient }) {
            sendMessage(.deliver(delivery), to: direct.key)
            return "direct"
        }
        let profile = try? node.database.profile(of: recipient)?.profile
        let mailboxes = Set(profile?.mailboxes ?? [])
        dialAddresses(of: profile, now: now)
        for m in mailboxes where !capable.contains(where: { $0.nodeID == m }) {
            dialAddresses(of: try? node.database.profile(of: m)?.profile, now: now)
        }
        let viaMailbox = capable.filter { mailboxes.contains($0.nodeID!) }
        let targets = viaMailbox.isEmpty ? capable : viaMailbox
        for p in targets { sendMessage(.deliver(delivery), to: p.key) }
        return targets.isEmpty ? "none" : viaMailbox.isEmpty ? "relay" : "mailbox"
    }

    private func dialAddresses(of profile: NodeProfile?, now: UInt64) {
        for a in profile?.addresses ?? [] {
            let address = a.description
            guard !isConnected(to: address), !dialing.contains(address), !selfAddresses.contains(address),
                Double(now) - (dialState[address]?.lastDial ?? -.infinity) >= 10
            else { continue }
            requestDial(address, now: Double(now))
        }
    }

    /// Opens the sealed deliveries not yet applied: stores their objects (an object waiting for a
    /// parent keeps its delivery for later), keeps an order's private fields, answers digests,
    /// and lets the node act on the trades that changed.
    func processInbox(retryWaiting: Bool = false) async {
        guard !inboxBusy else { return }
        inboxBusy = true
        defer { inboxBusy = false }
        let fresh = (try? node.database.unprocessedInbox()) ?? []
        let waiting = retryWaiting ? ((try? node.database.waitingInbox()) ?? []) : []
        guard !fresh.isEmpty || !waiting.isEmpty else { return }
        var touched: Set<ObjectID> = []
        for (item, isRetry) in fresh.map({ ($0, false) }) + waiting.map({ ($0, true) }) {
            guard let plain = try? node.identity.openSealed(item.body), let bundle = try? TradeBundle(decoding: plain)
            else {
                // Not a trade bundle (a `delivery.send` body): it stays in the inbox for its reader.
                try? node.database.markInboxProcessed(item.deliveryID)
                continue
            }
            var waits = false
            let admitted = bundle.envelopes.filter(concernsThisNode)
            if !admitted.isEmpty {
                do {
                    for r in try await node.ingestBatch(admitted) {
                        switch r {
                        case .applied(.deferred, _): waits = true
                        case .applied(let outcome, let object): received(outcome, object, bundle, &touched)
                        case .refused(let e):
                            logger.info(
                                "trade object refused", metadata: ["reason": "\(e.code.rawValue): \(e.message)"])
                        }
                    }
                } catch {
                    // The store failed: keep the bundle (it was acknowledged) and try again later.
                    logger.error("storing a trade bundle failed", metadata: ["error": "\(error)"])
                    waits = true
                }
            }
            if !isRetry { for d in bundle.digests { answer(d) } }
            // Applied: the objects live in the store now. Waiting: retried later, least recently
            // tried first, and forgotten after a day.
            if waits {
                try? node.database.markInboxWaiting(item.deliveryID, now: UInt64(now()))
            } else {
                try? node.database.removeInbox(item.deliveryID)
            }
        }
        for t in touched { await node.tradeAutomation(t) }
        await flushOutbox()
    }

    private func received(
        _ outcome: ApplyOutcome, _ object: VerifiedObject, _ bundle: TradeBundle, _ touched: inout Set<ObjectID>
    ) {
        if let t = tradeID(of: object) {
            touched.insert(t)
            // Kept also when the order itself was held already (sent earlier without them).
            if outcome == .inserted || outcome == .duplicate, object.kind == .tradeStep,
                let order = object.payload(as: TradeStep.self)?.order, !bundle.privateBlob.isEmpty,
                let p = try? TradePrivate(decoding: bundle.privateBlob), p.hash == order.privateHash
            {
                try? node.database.storeTradePrivate(object.id, body: bundle.privateBlob)
            }
        }
        if outcome == .inserted {
            logger.info(
                "trade object received", metadata: ["object.id": "\(object.id)", "object.kind": "\(object.kind)"])
        }
    }

    /// Only objects this node may hold: trade objects of trades it is a party of (an order naming
    /// it), chat addressed to it. Everything else in a bundle is dropped.
    private func concernsThisNode(_ bytes: [UInt8]) -> Bool {
        guard let e = try? Envelope(decoding: bytes), e.kind.propagation == .addressed,
            let payload = try? e.kind.payloadType.init(decoding: e.payload), let signer = NodeID(publicKey: e.signer)
        else { return false }
        let me = node.nodeID
        if let step = payload as? TradeStep {
            if let order = step.order { return TradeParties(buyer: signer, order: order).all.contains(me) }
            return true  // the store defers it until its order (naming this node) is held
        }
        if payload is TradeResolution { return true }
        if let m = payload as? ChatMessage { return m.recipients.contains(me) }
        return false
    }

    private func tradeID(of object: VerifiedObject) -> ObjectID? {
        if let s = object.payload(as: TradeStep.self) { return s.tradeID ?? object.id }
        return object.payload(as: TradeResolution.self)?.tradeID
    }

    /// A digest from another party: queue for it every object of the trade it lacks.
    private func answer(_ digest: TradeBundle.Digest) {
        guard let trade = try? node.database.trade(digest.tradeID),
            trade.state.parties.role(of: node.nodeID) != nil, trade.state.parties.role(of: digest.requester) != nil,
            digest.requester != node.nodeID
        else { return }
        let held = Set(digest.ids)
        let now = UInt64(now())
        var sent = 0
        for id in trade.envelopes.keys where !held.contains(id) {
            try? node.database.requeue(id, to: digest.requester, now: now)
            sent += 1
        }
        if sent > 0 {
            logger.info(
                "resync: sending a party what it lacks",
                metadata: ["trade.id": "\(digest.tradeID)", "peer.id": "\(digest.requester)", "objects": "\(sent)"])
        }
    }

    /// Makes a trade's unacknowledged deliveries due now and sends each other party a digest of
    /// what this node holds, so both sides end with the same set (`trade.resync`, and whenever
    /// two parties of an open trade link).
    public func resync(_ tradeID: ObjectID) async throws {
        let trade = try await node.trade(tradeID)
        let now = UInt64(now())
        for party in trade.state.parties.all where party != node.nodeID {
            try node.database.hurryOutbox(to: party, now: now)
            sendDigest(trade, to: party, now: now)
        }
        await flushOutbox()
    }

    func sendDigest(_ trade: StoredTrade, to party: NodeID, now: UInt64) {
        let digest = TradeBundle.Digest(
            tradeID: trade.state.tradeID, requester: node.nodeID,
            ids: Array(trade.envelopes.keys.sorted().prefix(TradeBundle.Limits.maxDigestIDs)))
        guard let plain = TradeBundle(digests: [digest]).encoded(),
            let sealed = try? SealedBox.seal(plain, to: party.publicKey)
        else { return }
        let delivery = Delivery(
            id: (0..<16).map { _ in UInt8(truncatingIfNeeded: random.next()) }, hops: 1, expires: now + 24 * 3600,
            recipients: [party], bodyType: .sealed, body: sealed)
        route(delivery, to: party, now: now)
    }

    /// A link to `id` is ready: hand it the mail held for it, resend what it has not acknowledged
    /// and reconcile every open trade shared with it.
    func tradePeerReady(_ id: NodeID, key: Int) async {
        let now = UInt64(now())
        if settings.mailbox, let mail = try? node.database.heldMail(for: id, now: now), !mail.isEmpty {
            for m in mail {
                guard case .deliver(let d)? = try? PeerMessage(decoding: m.message) else { continue }
                sendMessage(.deliver(d), to: key)
            }
            logger.info("mailbox: handed over held mail", metadata: ["peer.id": "\(id)", "items": "\(mail.count)"])
        }
        try? node.database.hurryOutbox(to: id, now: now)
        if let open = try? node.database.trades(openOnly: true, limit: 500) {
            for t in open where [t.buyer, t.seller, t.arbiter, t.fallbackArbiter].contains(id) {
                if let trade = try? node.database.trade(t.tradeID), trade.state.role(of: node.nodeID) != nil {
                    sendDigest(trade, to: id, now: now)
                }
            }
        }
        await flushOutbox()
    }

    /// A delivery for a recipient not linked here: hold it when this node offers mailbox service
    /// (outer checks only: size, expiry, recipient), or answer a resend with the ack already held.
    /// - Returns: whether it was held (or already was).
    func holdForRecipient(_ delivery: Delivery, from key: Int, now: Double) -> Bool {
        guard settings.mailbox, delivery.recipients.count == 1, let recipient = delivery.recipients.first,
            let from = peers[key]?.nodeID
        else { return false }
        if let held = try? node.database.mail(delivery.id) {
            if let ackBytes = held.ack, case .delivered(let ack)? = try? PeerMessage(decoding: ackBytes) {
                sendMessage(.delivered(ack), to: key)
            }
            return true
        }
        let message = PeerMessage.deliver(delivery).encoded()
        switch try? node.database.holdMail(
            deliveryID: delivery.id, recipient: recipient, fromPeer: from, message: message,
            expiresAt: min(delivery.expires, UInt64(now) + Self.tradeDeliveryLifetime), now: UInt64(now))
        {
        case .stored?:
            deliveries.remember(relayed: delivery.id, from: key)
            logger.debug(
                "mailbox: holding a delivery", metadata: ["peer.id": "\(recipient)", "bytes": "\(message.count)"])
            return true
        case .duplicate?: return true
        case .overQuota(let why)?:
            logger.info("mailbox: refused a delivery", metadata: ["reason": "\(why)"])
            return false
        case nil: return false
        }
    }

    /// An acknowledgement for mail this node holds: keep it for the sender's next retry.
    func recordMailboxAck(_ ack: DeliveryAck) {
        guard settings.mailbox, let held = try? node.database.mail(ack.deliveryID), held.ack == nil,
            held.recipient == ack.recipient
        else { return }
        try? node.database.recordMailAck(deliveryID: ack.deliveryID, ack: PeerMessage.delivered(ack).encoded())
    }

    /// Delivery status of a trade's objects: per object, each recipient and when it acknowledged.
    public func tradeDeliveries(_ objects: [ObjectID]) -> [ObjectID: [NodeID: UInt64?]] {
        var out: [ObjectID: [NodeID: UInt64?]] = [:]
        for item in (try? node.database.outbox(objects: objects)) ?? [] {
            out[item.objectID, default: [:]][item.recipient] = .some(item.ackedAt)
        }
        return out
    }

    /// Periodic trade upkeep (from the timer, at most one run at a time): resend due deliveries,
    /// retry waiting bundles, let the node act on deadlines, forget expired mail.
    func tradeMaintenance() async {
        guard !tradeMaintenanceBusy else { return }
        tradeMaintenanceBusy = true
        defer { tradeMaintenanceBusy = false }
        if !outboxRestored {
            // Queued and stored are two transactions: after a crash between them, queue again
            // (changes nothing for what is queued already).
            outboxRestored = true
            await node.requeueOwnTradeObjects()
        }
        await flushOutbox()
        await processInbox(retryWaiting: true)
        _ = await node.tradeTick()
        await node.publishForkProofs()
        await node.publishRulingsIfDue()
        await flushOutbox()
        let now = UInt64(now())
        if now >= lastMailboxPrune + 3600 {
            lastMailboxPrune = now
            try? node.database.pruneMailbox(now: now)
            try? node.database.pruneInbox(now: now)
        }
    }
}
