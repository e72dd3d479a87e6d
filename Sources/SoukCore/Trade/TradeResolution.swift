import SoukCrypto

/// How a trade ends (`Specs/trade.md` §6), kind 6 `trade-resolution`: exactly the network, the
/// trade, the outcome and three amounts in minor units of the order's currency — no time, no
/// parents — so two signers sign identical bytes. Settlement takes effect when two distinct of the
/// trade's three parties have signed the same resolution; each signature is its own envelope
/// (same payload, another signer).
///
/// Layout: `0x01 | string network | trade_id (32) | u8 outcome | varint buyer_amount |
/// varint seller_amount | varint arbiter_fee`.
public struct TradeResolution: Sendable, Hashable {
    public static let formatVersion: UInt8 = 1

    public enum Outcome: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        /// The seller is paid (less the arbiter's fee); the buyer gets nothing back.
        case release = 1
        /// The buyer is paid back (less the arbiter's fee); the seller gets nothing.
        case refund = 2
        /// Any division of the amount.
        case split = 3

        public var description: String {
            switch self {
            case .release: return "release"
            case .refund: return "refund"
            case .split: return "split"
            }
        }

        public init?(name: String) {
            guard let o = Self.allCases.first(where: { $0.description == name }) else { return nil }
            self = o
        }
    }

    public var network: String
    public var tradeID: ObjectID
    public var outcome: Outcome
    public var buyerAmount: UInt64
    public var sellerAmount: UInt64
    public var arbiterFee: UInt64

    public init(
        network: String, tradeID: ObjectID, outcome: Outcome, buyerAmount: UInt64, sellerAmount: UInt64,
        arbiterFee: UInt64
    ) {
        self.network = network
        self.tradeID = tradeID
        self.outcome = outcome
        self.buyerAmount = buyerAmount
        self.sellerAmount = sellerAmount
        self.arbiterFee = arbiterFee
    }

    /// The resolution of `outcome` for an order: release pays the seller the amount less the fee,
    /// refund pays the buyer; a split gives the buyer `buyerShare` and the seller the rest less the
    /// fee. The fee is the order's when `chargeFee` (the arbiter worked: a dispute), else 0.
    /// - Returns: `nil` when the buyer's share leaves less than the fee.
    public static func make(
        _ outcome: Outcome, tradeID: ObjectID, network: String, order: TradeOrder, buyerShare: UInt64 = 0,
        chargeFee: Bool = true
    ) -> TradeResolution? {
        let fee = chargeFee ? order.arbiterFee : 0
        let net = order.amount - fee
        switch outcome {
        case .release:
            return TradeResolution(
                network: network, tradeID: tradeID, outcome: .release, buyerAmount: 0, sellerAmount: net,
                arbiterFee: fee)
        case .refund:
            return TradeResolution(
                network: network, tradeID: tradeID, outcome: .refund, buyerAmount: net, sellerAmount: 0,
                arbiterFee: fee)
        case .split:
            guard buyerShare <= net else { return nil }
            return TradeResolution(
                network: network, tradeID: tradeID, outcome: .split, buyerAmount: buyerShare,
                sellerAmount: net - buyerShare, arbiterFee: fee)
        }
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.writeByte(Self.formatVersion)
        w.writeString(network)
        w.writeBytes(tradeID.bytes)
        w.writeByte(outcome.rawValue)
        w.writeVarint(buyerAmount)
        w.writeVarint(sellerAmount)
        w.writeVarint(arbiterFee)
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .tradeResolution, format: Self.formatVersion) { r in
            let network = try r.readString("network", maxBytes: 200)
            let trade = ObjectID(bytes: try r.readBytes(32, "trade_id"))
            let o = try r.readByte("outcome")
            guard let outcome = Outcome(rawValue: o) else {
                throw DecodingError.invalidValue(field: "outcome", reason: "unknown outcome \(o)")
            }
            return TradeResolution(
                network: network, tradeID: trade, outcome: outcome, buyerAmount: try r.readVarint("buyer_amount"),
                sellerAmount: try r.readVarint("seller_amount"), arbiterFee: try r.readVarint("arbiter_fee"))
        }
        try validateFields()
    }

    /// The rules that need no order: release pays the buyer nothing, refund the seller nothing,
    /// and the sum stays within the largest amount.
    public func validateFields() throws(ValidationError) {
        func refuse(_ m: String) -> ValidationError { ValidationError(.invalidResolution, m) }
        guard !network.isEmpty else { throw refuse("network must not be empty") }
        guard let total = total, total <= Money.maxMinorUnits else {
            throw refuse("the amounts add up to more than the largest amount")
        }
        switch outcome {
        case .release where buyerAmount != 0: throw refuse("a release pays the buyer nothing")
        case .refund where sellerAmount != 0: throw refuse("a refund pays the seller nothing")
        default: break
        }
    }

    /// buyer + seller + fee, or `nil` on overflow.
    public var total: UInt64? {
        let (a, o1) = buyerAmount.addingReportingOverflow(sellerAmount)
        let (b, o2) = a.addingReportingOverflow(arbiterFee)
        return o1 || o2 ? nil : b
    }

    /// Whether this resolution fits the order: amounts sum to its amount and the fee is at most its fee.
    public func fits(_ order: TradeOrder) -> Bool {
        total == order.amount && arbiterFee <= order.arbiterFee
    }

    /// BLAKE2b-256 of the payload: names a resolution independently of who signed it.
    public var hash: [UInt8] { Blake2b.hash256(encoded()) }
}

extension ObjectKind {
    /// Kind 6: a signed resolution of a trade (`TradeResolution`), addressed to the trade's parties.
    public static let tradeResolution = ObjectKind(rawValue: 6, name: "trade-resolution")
}

extension TradeResolution: ObjectPayload {
    public static var kind: ObjectKind { .tradeResolution }
    public static var maxPayloadBytes: Int { 512 }
    public static var propagation: Propagation { .addressed }
    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) {}
    /// A resolution has no time of its own (both signers sign identical bytes).
    public var timestamp: UInt64 { 0 }
    public var retainUntil: UInt64? { nil }
    public var objectNetwork: String? { network }
}
