import Foundation
import SoukCore
import SoukCrypto
import Testing

@testable import SoukStore

/// The store's half of trades (`Specs/trade.md` §4, §6.6, §9): steps wait for their order and
/// parents, refusals change nothing, per-party bounds, the phase equals the fold, and the one
/// resolution a node signed survives a crash (it never signs a second).
@Suite("store: trades")
struct TradeStoreTests {
    let buyer = Fixture.key(1)
    let seller = Fixture.key(2)
    let arbiter = Fixture.key(3)
    let stranger = Fixture.key(4)
    let t = Fixture.now

    func order() throws -> VerifiedObject {
        let listing = try Fixture.listing(key: seller, salt: Fixture.salt(1), price: 5_000, quantity: 2)
        let o = TradeOrder(
            listingEnvelope: listing.envelope.bytes, quantity: 2, amount: 10_000, currency: "EUR",
            seller: NodeID(publicKey: seller.publicKey)!, arbiter: NodeID(publicKey: arbiter.publicKey)!,
            fallbackArbiter: nil, arbiterFee: 100, rail: "cash",
            deadlines: .init(
                accept: 60, arbiterAck: 60, payment: 60, confirmation: 60, fulfilment: 60, inspection: 60, ruling: 60),
            privateHash: Array(repeating: 0, count: 32), nonce: Array(repeating: 1, count: 16))
        return try verified(TradeStep(network: "testnet", createdAt: t - 100, order: o), buyer)
    }

    func verified(_ payload: some ObjectPayload, _ key: SigningKey) throws -> VerifiedObject {
        try VerifiedObject(
            envelope: Envelope(kind: type(of: payload).kind, payload: payload.encoded(), signingKey: key), now: t)
    }

    func step(
        _ type: TradeStep.StepType, _ key: SigningKey, trade: ObjectID, parents: [ObjectID], at: UInt64 = 0
    ) throws -> VerifiedObject {
        try verified(
            TradeStep(network: "testnet", type: type, createdAt: t - 90 + at, tradeID: trade, parents: parents), key)
    }

    @Test func stepsWaitForTheirOrderAndParentsAndThePhaseFollows() throws {
        let db = try SoukDatabase.inMemory()
        let o = try order()
        let accept = try step(.accept, seller, trade: o.id, parents: [o.id])
        let ack = try step(.arbiterAck, arbiter, trade: o.id, parents: [accept.id], at: 1)
        #expect(try db.apply(accept, now: t) == .deferred(.object(o.id)))
        #expect(try db.apply(o, now: t) == .inserted)
        #expect(try db.apply(ack, now: t) == .deferred(.object(accept.id)))
        #expect(try db.apply(accept, now: t) == .inserted)
        #expect(try db.apply(ack, now: t) == .inserted)
        #expect(try db.apply(ack, now: t) == .duplicate)
        let held = try #require(try db.trade(o.id))
        #expect(held.state.phase == .arbiterAcknowledged)
        #expect(try db.trades().first?.phase == "arbiter_acknowledged", "the cached phase equals the fold")
        #expect(held.envelopes.count == 3 && held.receivedAt[accept.id] == t)
    }

    @Test func refusalsChangeNothing() throws {
        let db = try SoukDatabase.inMemory()
        let o = try order()
        _ = try db.apply(o, now: t)
        let counts = try db.objectCounts()
        // The buyer cannot accept; a stranger cannot sign anything; a parent of another trade.
        let byBuyer = try step(.accept, buyer, trade: o.id, parents: [o.id])
        guard case .rejected(let e1) = try db.apply(byBuyer, now: t) else {
            Issue.record("accept by the buyer")
            return
        }
        #expect(e1.code == .invalidTradeStep && e1.misbehaving)
        guard case .rejected = try db.apply(try step(.cancel, stranger, trade: o.id, parents: [o.id]), now: t) else {
            Issue.record("a stranger's step")
            return
        }
        let accept = try step(.accept, seller, trade: o.id, parents: [o.id])
        _ = try db.apply(accept, now: t)
        let otherOrder = try verified(
            TradeStep(
                network: "testnet", createdAt: t - 100,
                order: try #require(o.payload(as: TradeStep.self)?.order).with(nonce: 2)),
            buyer)
        _ = try db.apply(otherOrder, now: t)
        let crossed = try step(.arbiterAck, arbiter, trade: otherOrder.id, parents: [accept.id], at: 5)
        guard case .rejected(let e2) = try db.apply(crossed, now: t) else {
            Issue.record("a crossed parent")
            return
        }
        #expect(e2.message.contains("another trade"))
        // A step dated before its parent, and a trade id naming a step, are refused.
        let early = try step(.arbiterAck, arbiter, trade: o.id, parents: [accept.id], at: 0)
        #expect(try db.apply(early, now: t) == .inserted, "same second as its parent is fine")
        let backdated = try verified(
            TradeStep(network: "testnet", type: .paymentClaim, createdAt: t - 95, tradeID: o.id, parents: [early.id]),
            buyer)
        guard case .rejected = try db.apply(backdated, now: t) else {
            Issue.record("a back-dated step")
            return
        }
        let namesAStep = try step(.cancel, buyer, trade: accept.id, parents: [accept.id])
        guard case .rejected = try db.apply(namesAStep, now: t) else {
            Issue.record("trade id of a step")
            return
        }
        #expect(try db.objectCounts()[.tradeStep] == (counts[.tradeStep] ?? 0) + 3)
    }

    @Test func eachPartyIsBoundedPerTrade() throws {
        let db = try SoukDatabase.inMemory()
        let o = try order()
        _ = try db.apply(o, now: t)
        let accept = try step(.accept, seller, trade: o.id, parents: [o.id])
        _ = try db.apply(accept, now: t)
        var last = accept.id
        var outcomes: [ApplyOutcome] = []
        for i in 0..<20 {
            let s = try verified(
                TradeStep(
                    network: "testnet", type: .dispute, createdAt: t - 80 + UInt64(i), tradeID: o.id, parents: [last],
                    text: "\(i)"), seller)
            outcomes.append(try db.apply(s, now: t))
            if outcomes.last == .inserted { last = s.id }
        }
        // Disputes need an acknowledgement; they are refused, not counted. Use fulfilments instead.
        #expect(outcomes.allSatisfy { if case .rejected = $0 { true } else { false } })
        let ack = try step(.arbiterAck, arbiter, trade: o.id, parents: [accept.id], at: 1)
        _ = try db.apply(ack, now: t)
        var accepted = 0
        for i in 0..<20 {
            let s = try verified(
                TradeStep(
                    network: "testnet", type: .fulfil, createdAt: t - 80 + UInt64(i), tradeID: o.id, parents: [ack.id],
                    text: "\(i)"), seller)
            if try db.apply(s, now: t) == .inserted { accepted += 1 }
        }
        #expect(accepted == SoukDatabase.maxStepsPerAuthor - 1, "the accept was the seller's first")
        // The buyer's steps are not crowded out.
        let claim = try step(.paymentClaim, buyer, trade: o.id, parents: [ack.id], at: 2)
        #expect(try db.apply(claim, now: t) == .inserted)
        // Resolution signatures: two per signer.
        let body = try #require(o.payload(as: TradeStep.self)?.order)
        var sigs: [ApplyOutcome] = []
        for share in [UInt64(1), 2, 3] {
            let r = try #require(
                TradeResolution.make(.split, tradeID: o.id, network: "testnet", order: body, buyerShare: share))
            sigs.append(try db.apply(try verified(r, seller), now: t))
        }
        #expect(sigs == [.inserted, .inserted, .quotaExceeded(limit: 2)])
        let r = try #require(TradeResolution.make(.refund, tradeID: o.id, network: "testnet", order: body))
        #expect(try db.apply(try verified(r, buyer), now: t) == .inserted, "the buyer still signs")
        guard case .rejected = try db.apply(try verified(r, stranger), now: t) else {
            Issue.record("a stranger's resolution")
            return
        }
    }

    /// The node records the resolution it signs before signing, in its own transaction; after a
    /// crash (the file closed without anything else) it refuses any other for that trade.
    @Test func theOneResolutionSignedSurvivesACrash() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("souk.sqlite").path
        let o = try order()
        let body = try #require(o.payload(as: TradeStep.self)?.order)
        let release = try #require(TradeResolution.make(.release, tradeID: o.id, network: "testnet", order: body))
        let refund = try #require(TradeResolution.make(.refund, tradeID: o.id, network: "testnet", order: body))
        do {
            let db = try SoukDatabase.open(path: path)
            #expect(try db.recordSigning(release, now: t))
            // Crash: the process dies before it signs or sends anything.
        }
        let reopened = try SoukDatabase.open(path: path)
        #expect(try reopened.recordSigning(refund, now: t) == false, "never a second resolution")
        #expect(try reopened.recordSigning(release, now: t), "the same one may be signed again (same bytes)")
        #expect(try reopened.signedResolution(o.id) == release)
    }

    @Test func outboxAcknowledgesOnlyTheRecipientsAckOfTheExactBody() throws {
        let db = try SoukDatabase.inMemory()
        let o = try order()
        _ = try db.apply(o, now: t)
        let seller = NodeID(publicKey: self.seller.publicKey)!
        let arbiter = NodeID(publicKey: self.arbiter.publicKey)!
        try db.enqueue(o.id, to: [seller, arbiter], now: t)
        try db.enqueue(o.id, to: [seller], now: t)
        let due = try db.dueOutbox(now: t)
        #expect(due.count == 2 && Set(due.map(\.deliveryID)).count == 2)
        let item = try #require(due.first { $0.recipient == seller })
        try db.setOutboxBody(deliveryID: item.deliveryID, body: [1, 2, 3])
        #expect(
            try !db.acknowledge(deliveryID: item.deliveryID, by: arbiter, bodyHash: Blake2b.hash256([1, 2, 3]), now: t))
        #expect(try !db.acknowledge(deliveryID: item.deliveryID, by: seller, bodyHash: Blake2b.hash256([9]), now: t))
        #expect(
            try db.acknowledge(deliveryID: item.deliveryID, by: seller, bodyHash: Blake2b.hash256([1, 2, 3]), now: t))
        try db.recordAttempt(try #require(due.first { $0.recipient == arbiter }), now: t)
        #expect(try db.dueOutbox(now: t).isEmpty, "backoff: the next attempt is later")
        #expect(try db.dueOutbox(now: t + 10).count == 1)
        #expect(try db.dueOutbox(now: t + SoukDatabase.outboxLifetime + 10).isEmpty, "not past the lifetime")
        // A requeue sends it anew to a recipient that acknowledged it.
        try db.requeue(o.id, to: seller, now: t + 20)
        let again = try #require(try db.dueOutbox(now: t + 20).first { $0.recipient == seller })
        #expect(again.deliveryID != item.deliveryID && again.body == nil)
    }
    /// The mailbox holds mail per recipient and per delivering peer within quotas, answers a
    /// resend with the held ack, and forgets expired mail; acknowledged mail stops counting.
    @Test func mailboxQuotasAndAcks() throws {
        let db = try SoukDatabase.inMemory()
        let alice = NodeID(publicKey: buyer.publicKey)!
        let relay = NodeID(publicKey: seller.publicKey)!
        var limits = SoukDatabase.MailboxLimits()
        limits.perRecipientItems = 2
        limits.perPeerBytes = 250
        func hold(_ n: UInt8, bytes: Int = 10, to r: NodeID? = nil) throws -> SoukDatabase.MailboxOutcome {
            try db.holdMail(
                deliveryID: Array(repeating: n, count: 16), recipient: r ?? alice, fromPeer: relay,
                message: Array(repeating: 1, count: bytes), expiresAt: t + 100, now: t, limits: limits)
        }
        #expect(try hold(1) == .stored)
        #expect(try hold(1) == .duplicate)
        #expect(try hold(2) == .stored)
        guard case .overQuota = try hold(3) else {
            Issue.record("a third item for the recipient")
            return
        }
        let other = NodeID(publicKey: arbiter.publicKey)!
        guard case .overQuota = try hold(4, bytes: 240, to: other) else {
            Issue.record("the peer's byte share")
            return
        }
        #expect(try db.heldMail(for: alice, now: t).count == 2)
        try db.recordMailAck(deliveryID: Array(repeating: 1, count: 16), ack: [9, 9])
        #expect(try db.mail(Array(repeating: 1, count: 16))?.ack == [9, 9])
        #expect(try db.heldMail(for: alice, now: t).count == 1, "acknowledged mail is not handed over again")
        #expect(try hold(3) == .stored, "acknowledged mail no longer counts against the quota")
        #expect(try db.pruneMailbox(now: t + 100) == 3)
    }
}

extension TradeOrder {
    func with(nonce n: UInt8) -> TradeOrder {
        var o = self
        o.nonce = Array(repeating: n, count: 16)
        return o
    }
}
