import SoukCore
import SoukCrypto

/// A trade built from fixed keys (the seeds of `Specs/vectors/trade.json`): buyer 00…1f, seller
/// 20…3f, arbiter 40…5f, fallback arbiter 60…7f. Steps are signed and folded like a node does.
struct TradeFixture {
    static let buyerKey = try! SigningKey(seed: Array(0x00...0x1f))
    static let sellerKey = try! SigningKey(seed: Array(0x20...0x3f))
    static let arbiterKey = try! SigningKey(seed: Array(0x40...0x5f))
    static let fallbackKey = try! SigningKey(seed: Array(0x60...0x7f))
    static let strangerKey = try! SigningKey(seed: Array(0x80...0x9f))
    static var buyer: NodeID { NodeID(publicKey: buyerKey.publicKey)! }
    static var seller: NodeID { NodeID(publicKey: sellerKey.publicKey)! }
    static var arbiter: NodeID { NodeID(publicKey: arbiterKey.publicKey)! }
    static var fallback: NodeID { NodeID(publicKey: fallbackKey.publicKey)! }

    static let t0 = Fixture.t0
    static let hour: UInt64 = 3600
    static let deadlines = TradeOrder.Deadlines(
        accept: 10 * hour, arbiterAck: 10 * hour, payment: 10 * hour, confirmation: 10 * hour, fulfilment: 10 * hour,
        inspection: 10 * hour, ruling: 10 * hour)

    static let listingEnvelope = Envelope(
        kind: .listing,
        payload: Fixture.listing(price: Money(minorUnits: 12_000, currency: Fixture.eur), quantity: 3)
            .encoded(),
        signingKey: sellerKey)

    let network: String
    let orderStep: TradeStep
    let order: SignedStep
    var tradeID: ObjectID { order.id }
    var body: TradeOrder { orderStep.order! }
    var orderBytes: [UInt8]

    init(
        network: String = "testnet", quantity: UInt64 = 1, fee: UInt64 = 240, withFallback: Bool = true,
        deadlines: TradeOrder.Deadlines = TradeFixture.deadlines, nonce: [UInt8] = Array(repeating: 7, count: 16),
        privateHash: [UInt8] = Array(repeating: 0, count: 32)
    ) {
        self.network = network
        let o = TradeOrder(
            listingEnvelope: Self.listingEnvelope.bytes, quantity: quantity, amount: 12_000 * quantity, currency: "EUR",
            seller: Self.seller, arbiter: Self.arbiter, fallbackArbiter: withFallback ? Self.fallback : nil,
            arbiterFee: fee, rail: "cash", deadlines: deadlines, privateHash: privateHash,
            nonce: nonce)
        orderStep = TradeStep(network: network, createdAt: Self.t0 + 100, order: o)
        let e = Envelope(kind: .tradeStep, payload: orderStep.encoded(), signingKey: Self.buyerKey)
        orderBytes = e.bytes
        order = SignedStep(id: e.id, author: Self.buyer, step: orderStep)
    }

    /// A signed step `type` by `key` at `t0 + at` following `parents` (default: the order).
    func step(
        _ type: TradeStep.StepType, by key: SigningKey, at: UInt64, parents: [ObjectID]? = nil, text: String = ""
    ) -> SignedStep {
        let s = TradeStep(
            network: network, type: type, createdAt: Self.t0 + at, tradeID: tradeID, parents: parents ?? [tradeID],
            text: text)
        let e = Envelope(kind: .tradeStep, payload: s.encoded(), signingKey: key)
        return SignedStep(id: e.id, author: NodeID(publicKey: key.publicKey)!, step: s)
    }

    func envelope(_ s: SignedStep, key: SigningKey) -> [UInt8] {
        Envelope(kind: .tradeStep, payload: s.step.encoded(), signingKey: key).bytes
    }

    func resolution(_ outcome: TradeResolution.Outcome, buyerShare: UInt64 = 0) -> TradeResolution {
        TradeResolution.make(outcome, tradeID: tradeID, network: network, order: body, buyerShare: buyerShare)!
    }

    func sign(_ r: TradeResolution, _ key: SigningKey) -> SignedResolution {
        let e = Envelope(kind: .tradeResolution, payload: r.encoded(), signingKey: key)
        return SignedResolution(id: e.id, signer: NodeID(publicKey: key.publicKey)!, resolution: r)
    }

    func resolutionEnvelope(_ r: TradeResolution, _ key: SigningKey) -> [UInt8] {
        Envelope(kind: .tradeResolution, payload: r.encoded(), signingKey: key).bytes
    }

    func fold(_ steps: [SignedStep], _ resolutions: [SignedResolution] = []) -> TradeState {
        TradeState.fold(order: order, steps: steps, resolutions: resolutions)
    }

    /// The happy path up to fulfilment: accept (t+200), ack (300), claim (400), confirm (500), fulfil (600).
    func throughFulfilment() -> [SignedStep] {
        let accept = step(.accept, by: Self.sellerKey, at: 200)
        let ack = step(.arbiterAck, by: Self.arbiterKey, at: 300, parents: [accept.id])
        let claim = step(.paymentClaim, by: Self.buyerKey, at: 400, parents: [ack.id], text: "paid cash")
        let confirm = step(.paymentConfirm, by: Self.sellerKey, at: 500, parents: [claim.id])
        let fulfil = step(.fulfil, by: Self.sellerKey, at: 600, parents: [ack.id, confirm.id], text: "handed over")
        return [accept, ack, claim, confirm, fulfil]
    }
}
