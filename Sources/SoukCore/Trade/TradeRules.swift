/// A verified step with its author and id, as the fold and the store see it.
public struct SignedStep: Sendable, Equatable {
    public let id: ObjectID
    public let author: NodeID
    public let step: TradeStep

    public init(id: ObjectID, author: NodeID, step: TradeStep) {
        self.id = id
        self.author = author
        self.step = step
    }

    public init?(_ object: VerifiedObject) {
        guard let step = object.payload(as: TradeStep.self), let author = NodeID(publicKey: object.signer) else {
            return nil
        }
        self.init(id: object.id, author: author, step: step)
    }
}

/// A verified resolution signature: who signed which resolution.
public struct SignedResolution: Sendable, Equatable {
    public let id: ObjectID
    public let signer: NodeID
    public let resolution: TradeResolution

    public init(id: ObjectID, signer: NodeID, resolution: TradeResolution) {
        self.id = id
        self.signer = signer
        self.resolution = resolution
    }

    public init?(_ object: VerifiedObject) {
        guard let r = object.payload(as: TradeResolution.self), let signer = NodeID(publicKey: object.signer) else {
            return nil
        }
        self.init(id: object.id, signer: signer, resolution: r)
    }
}

/// A party's role in one trade.
public enum TradeRole: String, Sendable, CaseIterable {
    case buyer
    case seller
    case arbiter
    /// Named in the order; may act as the arbiter once the primary arbiter's deadline lapsed.
    case fallbackArbiter = "fallback_arbiter"
}

/// The keys fixed by an order.
public struct TradeParties: Sendable, Equatable {
    public let buyer: NodeID
    public let seller: NodeID
    public let arbiter: NodeID
    public let fallbackArbiter: NodeID?

    public init(buyer: NodeID, order: TradeOrder) {
        self.buyer = buyer
        self.seller = order.seller
        self.arbiter = order.arbiter
        self.fallbackArbiter = order.fallbackArbiter
    }

    public func role(of key: NodeID) -> TradeRole? {
        if key == buyer { return .buyer }
        if key == seller { return .seller }
        if key == arbiter { return .arbiter }
        if key == fallbackArbiter { return .fallbackArbiter }
        return nil
    }

    /// Everyone a step of the trade goes to.
    public var all: [NodeID] { [buyer, seller, arbiter] + (fallbackArbiter.map { [$0] } ?? []) }
}

/// The rules a step must meet whatever else is known about the trade (`Specs/trade.md` §4): its
/// author's role allows its type, it names this trade and this trade's network, and its parents
/// include the step it follows. The store refuses a step that breaks them; rules that depend on
/// the other steps of the trade are the fold's (`TradeState`), so the order of arrival never matters.
public enum TradeRules {
    /// Which roles may author a step type.
    public static func authors(_ type: TradeStep.StepType) -> Set<TradeRole> {
        switch type {
        case .order, .cancel, .paymentClaim, .received: return [.buyer]
        case .accept, .decline, .paymentConfirm, .fulfil: return [.seller]
        case .arbiterAck: return [.arbiter, .fallbackArbiter]
        case .dispute: return [.buyer, .seller]
        case .expire: return [.buyer, .seller, .arbiter, .fallbackArbiter]
        }
    }

    /// The type one of a step's parents must have.
    public static func requiredParent(_ type: TradeStep.StepType) -> TradeStep.StepType? {
        switch type {
        case .order: return nil
        case .accept, .decline, .cancel, .expire: return .order
        case .arbiterAck: return .accept
        case .paymentClaim, .fulfil, .dispute: return .arbiterAck
        case .paymentConfirm: return .paymentClaim
        case .received: return .fulfil
        }
    }

    /// - Parameters:
    ///   - parentTypes: the type of each parent, all of this trade (the order counts as `.order`).
    ///   - parentTimes: each parent's `created_at`; a step is never dated before a step it follows
    ///     (so a back-dated step cannot start a deadline early).
    /// - Throws: `ValidationError` (`.invalidTradeStep`, `.wrongNetwork`).
    public static func check(
        _ step: TradeStep, author: NodeID, order: TradeStep, parties: TradeParties, tradeID: ObjectID,
        parentTypes: [TradeStep.StepType], parentTimes: [UInt64]
    ) throws(ValidationError) {
        func refuse(_ m: String) -> ValidationError { ValidationError(.invalidTradeStep, m) }
        guard step.type != .order else { throw refuse("a trade has one order") }
        guard step.tradeID == tradeID else { throw refuse("the step names another trade") }
        guard step.network == order.network else {
            throw ValidationError(
                .wrongNetwork, "the step is for network \(step.network), the trade for \(order.network)")
        }
        guard let role = parties.role(of: author), authors(step.type).contains(role) else {
            throw refuse("\(author) may not sign a \(step.type) step of this trade")
        }
        if let required = requiredParent(step.type), !parentTypes.contains(required) {
            throw refuse("a \(step.type) step must follow a \(required) step")
        }
        if let latest = parentTimes.max(), step.createdAt < latest {
            throw refuse("a step is never dated before a step it follows (\(step.createdAt) < \(latest))")
        }
    }
}
