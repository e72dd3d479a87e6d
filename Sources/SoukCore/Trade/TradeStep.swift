/// One signed step of a trade (`Specs/trade.md` §3), kind 5 `trade-step`: addressed to the trade's
/// parties only, never gossiped. The order is the first step and its object id is the trade id;
/// every other step names the trade and its parents (the steps it follows), so a trade is a small
/// DAG whose state is a pure function of its set of steps (`TradeState`).
///
/// Layout: `0x01 | string network | u8 type | varint created_at | body`, where the body of an
/// order is the `TradeOrder` fields and the body of every other type is
/// `trade_id (32) | varint n | n × parent id (32) | string text`.
public struct TradeStep: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1

    public enum Limits {
        public static let maxParents = 8
        /// Reasons, payment references, tracking details, dispute evidence.
        public static let textMaxBytes = 4_096
    }

    public enum StepType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case order = 1
        case accept = 2
        case decline = 3
        case cancel = 4
        case arbiterAck = 5
        case paymentClaim = 6
        case paymentConfirm = 7
        case fulfil = 8
        case dispute = 9
        case expire = 10
        case received = 11

        public var description: String {
            switch self {
            case .order: return "order"
            case .accept: return "accept"
            case .decline: return "decline"
            case .cancel: return "cancel"
            case .arbiterAck: return "arbiter_ack"
            case .paymentClaim: return "payment_claim"
            case .paymentConfirm: return "payment_confirm"
            case .fulfil: return "fulfil"
            case .dispute: return "dispute"
            case .expire: return "expire"
            case .received: return "received"
            }
        }
    }

    public var network: String
    public var type: StepType
    public var createdAt: UInt64
    /// The order's body (type `order` only).
    public var order: TradeOrder?
    /// The trade (the order's object id); `nil` for the order itself.
    public var tradeID: ObjectID?
    public var parents: [ObjectID]
    /// A reason, payment reference, tracking details or evidence; may be empty.
    public var text: String

    /// An order.
    public init(network: String, createdAt: UInt64, order: TradeOrder) {
        self.network = network
        self.type = .order
        self.createdAt = createdAt
        self.order = order
        self.tradeID = nil
        self.parents = []
        self.text = ""
    }

    /// A step after the order.
    /// - Precondition: `type` is not `.order`.
    public init(
        network: String, type: StepType, createdAt: UInt64, tradeID: ObjectID, parents: [ObjectID], text: String = ""
    ) {
        precondition(type != .order)
        self.network = network
        self.type = type
        self.createdAt = createdAt
        self.order = nil
        self.tradeID = tradeID
        self.parents = parents
        self.text = text
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.writeByte(Self.formatVersion)
        w.writeString(network)
        w.writeByte(type.rawValue)
        w.writeVarint(createdAt)
        if let order {
            order.write(to: &w)
        } else {
            w.writeBytes(tradeID?.bytes ?? [UInt8](repeating: 0, count: 32))
            w.writeVarint(UInt64(parents.count))
            for p in parents { w.writeBytes(p.bytes) }
            w.writeString(text)
        }
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .tradeStep, format: Self.formatVersion) { r in
            let network = try r.readString("network", maxBytes: 200)
            let typeByte = try r.readByte("type")
            guard let type = StepType(rawValue: typeByte) else {
                throw DecodingError.invalidValue(field: "type", reason: "unknown step type \(typeByte)")
            }
            let createdAt = try r.readVarint("created_at")
            if type == .order {
                return TradeStep(network: network, createdAt: createdAt, order: try TradeOrder(reading: &r))
            }
            let trade = ObjectID(bytes: try r.readBytes(32, "trade_id"))
            let n = try r.readVarint("parents count")
            guard n >= 1, n <= UInt64(Limits.maxParents) else {
                throw DecodingError.invalidValue(
                    field: "parents", reason: "1 to \(Limits.maxParents) parents, got \(n)")
            }
            var parents: [ObjectID] = []
            for _ in 0..<n { parents.append(ObjectID(bytes: try r.readBytes(32, "parent"))) }
            let text = try r.readString("text", maxBytes: Limits.textMaxBytes)
            return TradeStep(
                network: network, type: type, createdAt: createdAt, tradeID: trade, parents: parents, text: text)
        }
        guard Set(parents).count == parents.count else {
            throw ValidationError(.invalidTradeStep, "a step names each parent once")
        }
        guard !network.isEmpty else { throw ValidationError(.invalidTradeStep, "network must not be empty") }
        guard !TextRules.hasControl(text, allowNewlines: true) else {
            throw ValidationError(.invalidTradeStep, "text must not contain control characters")
        }
    }
}

extension ObjectKind {
    /// Kind 5: a step of a trade (`TradeStep`), addressed to the trade's parties.
    public static let tradeStep = ObjectKind(rawValue: 5, name: "trade-step")
}

extension TradeStep: ObjectPayload {
    public static var kind: ObjectKind { .tradeStep }
    /// An order carries its listing's envelope (up to 16 KiB of payload).
    public static var maxPayloadBytes: Int { 24 * 1024 }
    public static var propagation: Propagation { .addressed }

    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) {
        try TimeRules.check(createdAt, "created_at", now: now)
        if let order { try order.validate(buyer: signer, network: network, createdAt: createdAt) }
    }

    public var timestamp: UInt64 { createdAt }
    /// Trades are kept: settlement proofs and reviews rest on them.
    public var retainUntil: UInt64? { nil }
    public var objectNetwork: String? { network }
}
