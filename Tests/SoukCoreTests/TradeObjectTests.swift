import SoukCore
import SoukCrypto
import Testing

/// Trade objects' own rules (`Specs/trade.md` §2–§3, §6, §9–§11): what an order may say, the
/// resolution's amounts, bundles and their padding, proofs and their refusals, contact details.
@Suite("trades: objects, bundles and proofs")
struct TradeObjectTests {
    typealias F = TradeFixture

    func verify(_ bytes: [UInt8], now: UInt64 = F.t0 + 1_000) -> ValidationError.Code? {
        do {
            _ = try VerifiedObject(bytes: bytes, now: now)
            return nil
        } catch { return error.code }
    }

    func order(
        _ change: (inout TradeOrder) -> Void, network: String = "testnet", key: SigningKey = F.buyerKey
    ) -> [UInt8] {
        var o = TradeFixture().body
        change(&o)
        return Envelope(
            kind: .tradeStep, payload: TradeStep(network: network, createdAt: F.t0 + 100, order: o).encoded(),
            signingKey: key
        ).bytes
    }

    @Test func aValidOrderVerifiesAndRoundTrips() throws {
        let f = TradeFixture()
        #expect(verify(f.orderBytes) == nil)
        let decoded = try TradeStep(decoding: f.orderStep.encoded())
        #expect(decoded == f.orderStep)
        #expect(try f.body.agreedListing().listing.title == "Road bike")
    }

    @Test func orderRefusals() {
        #expect(verify(order { $0.amount += 1 }) == .invalidOrder, "amount must be price × quantity")
        #expect(
            verify(
                order {
                    $0.quantity = 4
                    $0.amount = 48_000
                }) == .invalidOrder, "more than the listing has")
        #expect(verify(order { $0.currency = "USD" }) == .invalidOrder)
        #expect(verify(order { $0.arbiter = F.buyer }) == .invalidOrder, "the buyer cannot arbitrate")
        #expect(verify(order { $0.fallbackArbiter = F.arbiter }) == .invalidOrder)
        #expect(verify(order { $0.seller = F.arbiter }) == .invalidOrder, "the seller is the listing's signer")
        #expect(verify(order { $0.arbiterFee = $0.amount + 1 }) == .invalidOrder)
        #expect(verify(order { $0.rail = "" }) == .invalidOrder)
        #expect(verify(order { $0.deadlines.accept = 0 }) == .invalidOrder)
        #expect(verify(order({ $0.deadlines.ruling = 60 }, network: "main")) == .invalidOrder, "main: an hour at least")
        #expect(verify(order({ $0.deadlines = .standard }, network: "main")) == nil)
        #expect(verify(order({ _ in }, key: F.sellerKey)) == .invalidOrder, "a seller cannot order from itself")
        var bad = TradeFixture().body
        bad.listingEnvelope[bad.listingEnvelope.count - 1] ^= 1
        #expect(verify(order { $0 = bad }) == .invalidOrder, "the listing's signature must verify")
    }

    @Test func priceTimesQuantityOverflowIsRefused() {
        let big = Envelope(
            kind: .listing,
            payload: Fixture.listing(
                price: Money(minorUnits: Money.maxMinorUnits / 2 + 1, currency: Fixture.eur), quantity: 3
            )
            .encoded(), signingKey: F.sellerKey)
        let o = order {
            $0.listingEnvelope = big.bytes
            $0.quantity = 2
            $0.amount = (Money.maxMinorUnits / 2 + 1) &* 2
        }
        #expect(verify(o) == .invalidOrder)
    }

    @Test func stepRules() {
        let f = TradeFixture()
        let fromTheFuture = f.step(.accept, by: F.sellerKey, at: 100_000)
        #expect(verify(f.envelope(fromTheFuture, key: F.sellerKey)) == .fromTheFuture)
        let ok = f.step(.accept, by: F.sellerKey, at: 200, text: "see you Tuesday")
        #expect(verify(f.envelope(ok, key: F.sellerKey)) == nil)
        var noParents = ok.step
        noParents.parents = []
        #expect(
            verify(Envelope(kind: .tradeStep, payload: noParents.encoded(), signingKey: F.sellerKey).bytes)
                == .malformed)
        var twice = ok.step
        twice.parents = [f.tradeID, f.tradeID]
        #expect(
            verify(Envelope(kind: .tradeStep, payload: twice.encoded(), signingKey: F.sellerKey).bytes)
                == .invalidTradeStep)
        // The structural rules the store applies.
        #expect(throws: ValidationError.self) {
            try TradeRules.check(
                ok.step, author: F.buyer, order: f.orderStep, parties: TradeParties(buyer: F.buyer, order: f.body),
                tradeID: f.tradeID, parentTypes: [.order], parentTimes: [F.t0 + 100])
        }
        var other = ok.step
        other.network = "main"
        #expect(throws: ValidationError(.wrongNetwork, "the step is for network main, the trade for testnet")) {
            try TradeRules.check(
                other, author: F.seller, order: f.orderStep, parties: TradeParties(buyer: F.buyer, order: f.body),
                tradeID: f.tradeID, parentTypes: [.order], parentTimes: [F.t0 + 100])
        }
    }

    @Test func resolutionRules() throws {
        let f = TradeFixture()
        var r = f.resolution(.release)
        #expect(r.fits(f.body))
        r.buyerAmount = 1
        #expect(throws: ValidationError.self) { try TradeResolution(decoding: r.encoded()) }
        var refund = f.resolution(.refund)
        refund.sellerAmount = 1
        #expect(throws: ValidationError.self) { try TradeResolution(decoding: refund.encoded()) }
        var overflow = f.resolution(.split, buyerShare: 1)
        overflow.sellerAmount = .max
        #expect(throws: ValidationError.self) { try TradeResolution(decoding: overflow.encoded()) }
        #expect(
            TradeResolution.make(.split, tradeID: f.tradeID, network: "testnet", order: f.body, buyerShare: 12_000)
                == nil)
        // Identical bytes whoever signs: no time, no parents.
        let a = f.resolutionEnvelope(f.resolution(.refund), F.buyerKey)
        let b = f.resolutionEnvelope(f.resolution(.refund), F.arbiterKey)
        #expect(try Envelope(decoding: a).payload == Envelope(decoding: b).payload)
    }

    @Test func bundlesArePaddedToPowersOfTwoAndRefuseNonZeroPadding() throws {
        let f = TradeFixture()
        let bundle = TradeBundle(
            envelopes: [f.orderBytes],
            privateBlob: TradePrivate(salt: Array(repeating: 1, count: 16), text: "Addr").encoded,
            digests: [.init(tradeID: f.tradeID, requester: F.seller, ids: [f.tradeID])])
        let bytes = try #require(bundle.encoded())
        #expect(bytes.count.nonzeroBitCount == 1 && bytes.count >= 256)
        #expect(try TradeBundle(decoding: bytes) == bundle)
        #expect(try #require(TradeBundle().encoded()).count == 256)
        var tampered = bytes
        tampered[tampered.count - 1] = 1
        #expect(throws: DecodingError.self) { try TradeBundle(decoding: tampered) }
        let tooMany = TradeBundle(envelopes: Array(repeating: [1], count: 17))
        #expect(tooMany.encoded() == nil)
        // Sealed to the seller: only the seller opens it.
        let sealed = try SealedBox.seal(bytes, to: F.sellerKey.publicKey)
        #expect(try F.sellerKey.openSealed(sealed) == bytes)
        #expect(throws: CryptoError.self) { try F.buyerKey.openSealed(sealed) }
    }

    @Test func aSettlementProofVerifiesOfflineAndEveryForgeryIsRefused() throws {
        let f = TradeFixture()
        let steps = f.throughFulfilment()
        let accept = f.envelope(steps[0], key: F.sellerKey)
        let release = f.resolution(.release)
        let buyerSig = f.resolutionEnvelope(release, F.buyerKey)
        let sellerSig = f.resolutionEnvelope(release, F.sellerKey)
        let proof = SettlementProof(
            order: f.orderBytes, accept: accept, fallbackAck: nil, signatures: [buyerSig, sellerSig])
        let v = try proof.verify()
        #expect(v.tradeID == f.tradeID && v.resolution == release && v.roles == [.buyer, .seller])

        func refused(_ p: SettlementProof) -> Bool { (try? p.verify()) == nil }
        #expect(refused(SettlementProof(order: f.orderBytes, accept: accept, fallbackAck: nil, signatures: [buyerSig])))
        #expect(
            refused(
                SettlementProof(
                    order: f.orderBytes, accept: accept, fallbackAck: nil, signatures: [buyerSig, buyerSig])))
        let stranger = f.resolutionEnvelope(release, F.strangerKey)
        #expect(
            refused(
                SettlementProof(
                    order: f.orderBytes, accept: accept, fallbackAck: nil, signatures: [buyerSig, stranger])))
        let refundSig = f.resolutionEnvelope(f.resolution(.refund), F.sellerKey)
        #expect(
            refused(
                SettlementProof(
                    order: f.orderBytes, accept: accept, fallbackAck: nil, signatures: [buyerSig, refundSig])))
        let buyerAccept = f.envelope(f.step(.accept, by: F.buyerKey, at: 200), key: F.buyerKey)
        #expect(
            refused(
                SettlementProof(
                    order: f.orderBytes, accept: buyerAccept, fallbackAck: nil, signatures: [buyerSig, sellerSig])))
        var forged = sellerSig
        forged[forged.count - 1] ^= 1
        #expect(
            refused(
                SettlementProof(order: f.orderBytes, accept: accept, fallbackAck: nil, signatures: [buyerSig, forged])))
        let fallbackSig = f.resolutionEnvelope(release, F.fallbackKey)
        #expect(
            refused(
                SettlementProof(
                    order: f.orderBytes, accept: accept, fallbackAck: nil, signatures: [buyerSig, fallbackSig])))
        let takeover = f.envelope(
            f.step(.arbiterAck, by: F.fallbackKey, at: 200 + 10 * F.hour, parents: [steps[0].id]), key: F.fallbackKey)
        #expect(
            !refused(
                SettlementProof(
                    order: f.orderBytes, accept: accept, fallbackAck: takeover, signatures: [buyerSig, fallbackSig])))
        // The proof of a folded settled state is exactly this one.
        let state = f.fold(steps, [f.sign(release, F.buyerKey), f.sign(release, F.sellerKey)])
        var envelopes = [f.tradeID: f.orderBytes, steps[0].id: accept]
        for sig in [buyerSig, sellerSig] { envelopes[try Envelope(decoding: sig).id] = sig }
        let made = try #require(SettlementProof.make(state: state, envelopes: envelopes))
        #expect(try made.verify().resolution == release)
    }

    @Test func contactDetailsAreFound() {
        #expect(ContactDetails.find(in: "call me on +49 170 1234567").contains("phone"))
        #expect(ContactDetails.find(in: "mail anna@example.org").contains("email"))
        #expect(ContactDetails.find(in: "IBAN DE89 3704 0044 0532 0130 00").contains("iban"))
        #expect(ContactDetails.find(in: "ping me on telegram").contains("messenger"))
        #expect(ContactDetails.find(in: "Is the bike still available? 120 EUR ok?").isEmpty)
        #expect(
            ContactDetails.find(in: "Is 20 euros fine with you? Picked up on 12.03.").isEmpty, "no false IBAN or phone")
        #expect(ContactDetails.find(in: "The signal light on the bike works").isEmpty)
        #expect(!ContactDetails.find(in: "IBAN DE89 3704 0044 0532 0130 01").contains("iban"), "a wrong check sum")
    }

    @Test func arbiterFees() {
        let p = ArbiterProfile(
            version: 1, updatedAt: F.t0, expiresAt: F.t0 + 86_400, displayName: "Arb", feeBasisPoints: 200,
            currencies: [.init(currency: "EUR", minFee: 100, minAmount: 500, maxAmount: 1_000_000)], languages: ["en"],
            terms: "", responseHours: 24)
        #expect(p.fee(amount: 12_000, currency: "EUR") == 240)
        #expect(p.fee(amount: 1_000, currency: "EUR") == 100, "the minimum fee")
        #expect(p.fee(amount: 100, currency: "EUR") == nil, "under the arbiter's minimum amount")
        #expect(p.fee(amount: 12_000, currency: "USD") == nil)
        var q = p
        q.feeBasisPoints = 6_000
        #expect(throws: ValidationError.self) { try q.validateFields() }
    }
}
