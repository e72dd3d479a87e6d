/// A self-contained proof that a trade settled (`Specs/trade.md` §11): the order (the buyer's
/// signature, the listing as agreed, the three keys; its private fields only as a hash), the
/// seller's accept (the seller agreed to this trade, so two colluding keys cannot invent a trade
/// with a third), the fallback arbiter's takeover when it signed, and two resolution signatures
/// over identical bytes by two distinct parties. Anyone checks it offline.
public struct SettlementProof: Sendable, Equatable {
    public static let format = "souk-settlement-proof/1"

    public var order: [UInt8]
    public var accept: [UInt8]
    public var fallbackAck: [UInt8]?
    public var signatures: [[UInt8]]

    public init(order: [UInt8], accept: [UInt8], fallbackAck: [UInt8]?, signatures: [[UInt8]]) {
        self.order = order
        self.accept = accept
        self.fallbackAck = fallbackAck
        self.signatures = signatures
    }

    /// What a valid proof establishes.
    public struct Verified: Sendable, Equatable {
        public let tradeID: ObjectID
        public let network: String
        public let parties: TradeParties
        public let order: TradeOrder
        public let resolution: TradeResolution
        public let roles: [TradeRole]
    }

    /// The proof of a settled trade, from its state and envelopes; `nil` when it is not settled.
    public static func make(state: TradeState, envelopes: [ObjectID: [UInt8]]) -> SettlementProof? {
        guard state.phase == .settled, let s = state.settlement, let order = envelopes[state.tradeID],
            let accept = state.timeline.first(where: {
                $0.void == nil && $0.step.step.type == .accept && $0.step.author == state.parties.seller
            }),
            let acceptBytes = envelopes[accept.step.id]
        else { return nil }
        let sigs = s.roles.prefix(2).compactMap { s.signatures[$0].flatMap { envelopes[$0] } }
        guard sigs.count == 2 else { return nil }
        var fallback: [UInt8]?
        if state.fallbackActive, let f = state.parties.fallbackArbiter,
            let ack = state.timeline.first(where: {
                $0.void == nil && $0.step.step.type == .arbiterAck && $0.step.author == f
            })
        {
            fallback = envelopes[ack.step.id]
        }
        return SettlementProof(order: order, accept: acceptBytes, fallbackAck: fallback, signatures: sigs)
    }

    /// Checks every signature and rule, in the order of `Specs/trade.md` §11.
    /// - Throws: `ValidationError` naming the first failed check.
    public func verify() throws(ValidationError) -> Verified {
        func refuse(_ m: String) -> ValidationError { ValidationError(.invalidResolution, "invalid proof: \(m)") }
        func open(_ bytes: [UInt8], _ what: String) throws(ValidationError) -> Envelope {
            let e: Envelope
            do { e = try Envelope(decoding: bytes) } catch { throw refuse("\(what) is not an envelope (\(error))") }
            guard e.hasValidSignature else { throw refuse("\(what) has a bad signature") }
            return e
        }
        let orderEnvelope = try open(order, "the order")
        guard orderEnvelope.kind == .tradeStep else { throw refuse("the order is a \(orderEnvelope.kind)") }
        let orderStep = try TradeStep(decoding: orderEnvelope.payload)
        guard let body = orderStep.order else { throw refuse("the order is a \(orderStep.type) step") }
        try body.validate(buyer: orderEnvelope.signer, network: orderStep.network, createdAt: orderStep.createdAt)
        let tradeID = orderEnvelope.id
        let parties = TradeParties(buyer: NodeID(publicKey: orderEnvelope.signer)!, order: body)

        let acceptEnvelope = try open(accept, "the accept")
        guard acceptEnvelope.kind == .tradeStep else { throw refuse("the accept is a \(acceptEnvelope.kind)") }
        let acceptStep = try TradeStep(decoding: acceptEnvelope.payload)
        guard acceptStep.type == .accept, acceptEnvelope.signer == parties.seller.publicKey,
            acceptStep.tradeID == tradeID, acceptStep.parents.contains(tradeID),
            acceptStep.network == orderStep.network,
            acceptStep.createdAt >= orderStep.createdAt
        else { throw refuse("the accept is not the seller's accept of this order") }

        var fallbackActive = false
        if let fallbackAck {
            let e = try open(fallbackAck, "the fallback takeover")
            guard e.kind == .tradeStep, let f = parties.fallbackArbiter, e.signer == f.publicKey else {
                throw refuse("the takeover is not signed by the order's fallback arbiter")
            }
            let s = try TradeStep(decoding: e.payload)
            let earliest = acceptStep.createdAt.addingClamped(min(body.deadlines.arbiterAck, body.deadlines.ruling))
            guard s.type == .arbiterAck, s.tradeID == tradeID, s.network == orderStep.network, s.createdAt >= earliest
            else {
                throw refuse("the fallback arbiter's takeover is not an acknowledgement after the primary's deadline")
            }
            fallbackActive = true
        }

        guard signatures.count >= 2 else { throw refuse("a settlement needs two signatures") }
        var resolution: TradeResolution?
        var roles: Set<TradeRole> = []
        for (i, bytes) in signatures.enumerated() {
            let e = try open(bytes, "signature \(i + 1)")
            guard e.kind == .tradeResolution else { throw refuse("signature \(i + 1) is a \(e.kind)") }
            let r = try TradeResolution(decoding: e.payload)
            if let resolution, r != resolution { throw refuse("the signatures are over different resolutions") }
            resolution = r
            guard let role = parties.role(of: NodeID(publicKey: e.signer)!) else {
                throw refuse("signature \(i + 1) is not by a party of the trade")
            }
            if role == .fallbackArbiter, !fallbackActive {
                throw refuse("the fallback arbiter signed without a takeover in the proof")
            }
            roles.insert(role == .fallbackArbiter ? .arbiter : role)
        }
        guard let resolution, resolution.tradeID == tradeID, resolution.network == orderStep.network else {
            throw refuse("the resolution names another trade or network")
        }
        guard resolution.fits(body) else { throw refuse("the resolution's amounts do not fit the order") }
        guard roles.count >= 2 else { throw refuse("the two signatures are by the same party") }
        return Verified(
            tradeID: tradeID, network: orderStep.network, parties: parties, order: body, resolution: resolution,
            roles: TradeRole.allCases.filter(roles.contains))
    }
}
