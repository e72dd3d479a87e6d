public import SoukCrypto

/// The body of a trade's first step, signed by the buyer (`Specs/trade.md` §3): what is bought
/// (the listing's signed envelope as agreed, so the order still shows it after the listing expired
/// or changed), how many, for how much, who arbitrates, on which payment rail, and every deadline.
/// The buyer is the order's signer; the seller is the listing's signer; the three keys that can
/// settle the trade are fixed here (the fallback arbiter may stand in for the primary one).
public struct TradeOrder: Sendable, Equatable {
    public enum Limits {
        /// The largest listing envelope: 2 + 3 + 16 384 + 32 + 64 bytes.
        public static let listingEnvelopeMaxBytes = 2 + 3 + 16 * 1024 + 96
        public static let railMaxBytes = 64
        /// Longest deadline of any step.
        public static let maxDeadline: UInt64 = 180 * 24 * 3600
        /// Shortest deadline on the main network; `testnet` allows seconds so scenarios run fast.
        public static let mainMinDeadline: UInt64 = 3600
    }

    /// How long each party has for its next step, in seconds, counted from the step before it.
    public struct Deadlines: Sendable, Equatable {
        /// Seller: accept or decline, from the order.
        public var accept: UInt64
        /// Arbiter: acknowledge, from the accept.
        public var arbiterAck: UInt64
        /// Buyer: claim payment, from the arbiter's acknowledgement.
        public var payment: UInt64
        /// Seller: confirm the payment, from the claim.
        public var confirmation: UInt64
        /// Seller: fulfil, from the payment claim.
        public var fulfilment: UInt64
        /// Buyer: release or dispute, from the fulfilment.
        public var inspection: UInt64
        /// Arbiter: rule, from the dispute.
        public var ruling: UInt64

        public init(
            accept: UInt64, arbiterAck: UInt64, payment: UInt64, confirmation: UInt64, fulfilment: UInt64,
            inspection: UInt64, ruling: UInt64
        ) {
            self.accept = accept
            self.arbiterAck = arbiterAck
            self.payment = payment
            self.confirmation = confirmation
            self.fulfilment = fulfilment
            self.inspection = inspection
            self.ruling = ruling
        }

        /// The defaults of `Specs/trade.md` §5 (72 h, 48 h, 48 h, 72 h, 7 d, 14 d, 14 d).
        public static let standard = Deadlines(
            accept: 72 * 3600, arbiterAck: 48 * 3600, payment: 48 * 3600, confirmation: 72 * 3600,
            fulfilment: 7 * 86_400, inspection: 14 * 86_400, ruling: 14 * 86_400)

        public var all: [(name: String, seconds: UInt64)] {
            [
                ("accept", accept), ("arbiter_ack", arbiterAck), ("payment", payment), ("confirmation", confirmation),
                ("fulfilment", fulfilment), ("inspection", inspection), ("ruling", ruling),
            ]
        }
    }

    /// The listing's envelope bytes, verbatim.
    public var listingEnvelope: [UInt8]
    public var quantity: UInt64
    /// Price × quantity in minor units of `currency`.
    public var amount: UInt64
    public var currency: String
    public var seller: NodeID
    public var arbiter: NodeID
    public var fallbackArbiter: NodeID?
    /// The arbiter's fee in minor units of `currency`, fixed for the trade.
    public var arbiterFee: UInt64
    /// The payment rail the parties use (`cash`, `bank-transfer`, `btc-multisig`, …); free text.
    public var rail: String
    public var deadlines: Deadlines
    /// BLAKE2b-256 of the private fields (`TradePrivate`), or 32 zero bytes when there are none.
    public var privateHash: [UInt8]
    /// 16 random bytes: two otherwise identical orders are two trades.
    public var nonce: [UInt8]

    public init(
        listingEnvelope: [UInt8], quantity: UInt64, amount: UInt64, currency: String, seller: NodeID, arbiter: NodeID,
        fallbackArbiter: NodeID?, arbiterFee: UInt64, rail: String, deadlines: Deadlines, privateHash: [UInt8],
        nonce: [UInt8]
    ) {
        self.listingEnvelope = listingEnvelope
        self.quantity = quantity
        self.amount = amount
        self.currency = currency
        self.seller = seller
        self.arbiter = arbiter
        self.fallbackArbiter = fallbackArbiter
        self.arbiterFee = arbiterFee
        self.rail = rail
        self.deadlines = deadlines
        self.privateHash = privateHash
        self.nonce = nonce
    }

    func write(to w: inout ByteWriter) {
        w.writeLengthPrefixed(listingEnvelope)
        w.writeVarint(quantity)
        w.writeVarint(amount)
        w.writeString(currency)
        w.writeBytes(seller.publicKey)
        w.writeBytes(arbiter.publicKey)
        if let fallbackArbiter {
            w.writeByte(1)
            w.writeBytes(fallbackArbiter.publicKey)
        } else {
            w.writeByte(0)
        }
        w.writeVarint(arbiterFee)
        w.writeString(rail)
        for d in deadlines.all { w.writeVarint(d.seconds) }
        w.writeBytes(privateHash)
        w.writeBytes(nonce)
    }

    init(reading r: inout ByteReader) throws(DecodingError) {
        listingEnvelope = try r.readLengthPrefixed("listing", maxLength: Limits.listingEnvelopeMaxBytes)
        quantity = try r.readVarint("quantity")
        amount = try r.readVarint("amount")
        currency = try r.readString("currency", maxBytes: 8)
        seller = NodeID(publicKey: try r.readBytes(32, "seller"))!
        arbiter = NodeID(publicKey: try r.readBytes(32, "arbiter"))!
        switch try r.readByte("fallback flag") {
        case 0: fallbackArbiter = nil
        case 1: fallbackArbiter = NodeID(publicKey: try r.readBytes(32, "fallback arbiter"))!
        case let b: throw .invalidValue(field: "fallback flag", reason: "must be 0 or 1, got \(b)")
        }
        arbiterFee = try r.readVarint("arbiter_fee")
        rail = try r.readString("rail", maxBytes: Limits.railMaxBytes)
        var d: [UInt64] = []
        for name in ["accept", "arbiter_ack", "payment", "confirmation", "fulfilment", "inspection", "ruling"] {
            d.append(try r.readVarint("deadline \(name)"))
        }
        deadlines = Deadlines(
            accept: d[0], arbiterAck: d[1], payment: d[2], confirmation: d[3], fulfilment: d[4], inspection: d[5],
            ruling: d[6])
        privateHash = try r.readBytes(32, "private_hash")
        nonce = try r.readBytes(16, "nonce")
    }

    /// The listing as agreed, decoded and verified (signature and fields, not its expiry: an order
    /// outlives its listing).
    public func agreedListing() throws(ValidationError) -> (listing: Listing, envelope: Envelope) {
        let envelope: Envelope
        do {
            envelope = try Envelope(decoding: listingEnvelope)
        } catch {
            throw ValidationError(.invalidOrder, "the order's listing is not a valid envelope: \(error)")
        }
        guard envelope.kind == .listing else {
            throw ValidationError(.invalidOrder, "the order's listing is a \(envelope.kind), not a listing")
        }
        guard envelope.hasValidSignature else {
            throw ValidationError(.invalidOrder, "the order's listing has a bad signature")
        }
        let listing: Listing
        do {
            listing = try Listing(decoding: envelope.payload)
        } catch {
            throw ValidationError(.invalidOrder, "the order's listing is invalid: \(error.message)")
        }
        return (listing, envelope)
    }

    /// Every rule of an order that needs neither stored state nor the clock beyond `createdAt`.
    /// - Parameters:
    ///   - buyer: the order's signer.
    func validate(buyer: [UInt8], network: String, createdAt: UInt64) throws(ValidationError) {
        func refuse(_ m: String) -> ValidationError { ValidationError(.invalidOrder, m) }
        let (listing, envelope) = try agreedListing()
        guard envelope.signer == seller.publicKey else {
            throw refuse("the seller must be the listing's signer")
        }
        guard buyer != seller.publicKey else { throw refuse("a seller cannot order from itself") }
        guard arbiter.publicKey != buyer, arbiter != seller else {
            throw refuse("the arbiter must be neither the buyer nor the seller")
        }
        if let fallbackArbiter {
            guard fallbackArbiter.publicKey != buyer, fallbackArbiter != seller, fallbackArbiter != arbiter else {
                throw refuse("the fallback arbiter must differ from the buyer, the seller and the arbiter")
            }
        }
        guard currency == listing.price.currency.code else {
            throw refuse("the order's currency \(currency) is not the listing's \(listing.price.currency.code)")
        }
        guard quantity >= 1, quantity <= listing.quantity else {
            throw refuse("quantity must be 1 to \(listing.quantity), the listing's quantity")
        }
        let (total, overflow) = listing.price.minorUnits.multipliedReportingOverflow(by: quantity)
        guard !overflow, total <= Money.maxMinorUnits else {
            throw refuse("price × quantity overflows the largest amount (\(Money.maxMinorUnits) minor units)")
        }
        guard amount == total else {
            throw refuse("amount must be price × quantity = \(total), got \(amount)")
        }
        guard arbiterFee <= amount else { throw refuse("the arbiter's fee cannot exceed the amount") }
        guard !rail.isEmpty, !TextRules.hasControl(rail, allowNewlines: false), !TextRules.hasOuterWhitespace(rail)
        else { throw refuse("rail must be 1 to \(Limits.railMaxBytes) bytes of text without control characters") }
        let minimum: UInt64 = network == "main" ? Limits.mainMinDeadline : 1
        for d in deadlines.all where d.seconds < minimum || d.seconds > Limits.maxDeadline {
            throw refuse(
                "deadline \(d.name) must be \(minimum) s to \(Limits.maxDeadline / 86_400) days on network \(network), got \(d.seconds) s"
            )
        }
        guard listing.updatedAt <= createdAt + TimeRules.maxClockSkew, listing.expiresAt > createdAt else {
            throw refuse("the listing was not current when the order was made")
        }
        guard privateHash.count == 32, nonce.count == 16 else { throw refuse("bad private hash or nonce") }
    }
}

/// The private fields of an order (the delivery address, a note to the seller): kept by the parties
/// and sent sealed next to the order; the order carries only their hash, so a settlement proof can
/// be shown without them. The salt keeps the hash from confirming a guessed address.
public struct TradePrivate: Sendable, Equatable {
    public static let maxTextBytes = 2_048
    public var salt: [UInt8]
    public var text: String

    public init(salt: [UInt8], text: String) {
        self.salt = salt
        self.text = text
    }

    public var encoded: [UInt8] {
        var w = ByteWriter(capacity: 32 + text.utf8.count)
        w.writeByte(1)
        w.writeBytes(salt)
        w.writeString(text)
        return w.bytes
    }

    public var hash: [UInt8] { Blake2b.hash256(encoded) }

    public init(decoding bytes: [UInt8]) throws(DecodingError) {
        var r = ByteReader(bytes)
        let format = try r.readByte("private format")
        guard format == 1 else { throw .unsupportedVersion(what: "trade private fields", version: format) }
        salt = try r.readBytes(16, "salt")
        text = try r.readString("private text", maxBytes: Self.maxTextBytes)
        try r.expectEnd("trade private fields")
    }
}
