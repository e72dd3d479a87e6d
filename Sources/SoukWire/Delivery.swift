public import SoukCore
public import SoukCrypto

/// Addressed delivery (`Specs/wire.md` §15): a body carried to named recipient nodes rather than to
/// everyone, hop by hop over peer links, and an end-to-end acknowledgement that only a recipient
/// can sign, after it committed the body. A relay's receipt never counts as delivered.
public struct Delivery: Sendable, Equatable {
    public enum Limits {
        public static let maxRecipients = 3
        public static let maxHops: UInt8 = 2
        public static let maxBodyBytes = 64 * 1024
        /// A delivery is carried at most this long (its `expires` is at most this far ahead).
        public static let maxLifetime: UInt64 = 30 * 24 * 3600
    }

    /// What the body is: a signed envelope (checked and stored by the recipient like any object), or
    /// a sealed blob only the recipients can open (kept in their inbox).
    public enum BodyType: UInt8, Sendable, Equatable {
        case envelope = 1
        case sealed = 2
    }

    /// 16 random bytes chosen by the sender; names the delivery in acks and logs.
    public var id: [UInt8]
    /// Further links it may cross after this one (a relay forwards with `hops - 1`).
    public var hops: UInt8
    /// Unix seconds after which nobody carries it.
    public var expires: UInt64
    public var recipients: [NodeID]
    public var bodyType: BodyType
    public var body: [UInt8]

    public init(id: [UInt8], hops: UInt8, expires: UInt64, recipients: [NodeID], bodyType: BodyType, body: [UInt8]) {
        self.id = id
        self.hops = hops
        self.expires = expires
        self.recipients = recipients
        self.bodyType = bodyType
        self.body = body
    }

    /// BLAKE2b-256 of the body: what an acknowledgement signs.
    public var bodyHash: [UInt8] { Blake2b.hash256(body) }

    func encode(into w: inout ByteWriter) {
        w.writeBytes(id)
        w.writeByte(hops)
        w.writeVarint(expires)
        w.writeVarint(UInt64(recipients.count))
        for r in recipients { w.writeBytes(r.publicKey) }
        w.writeByte(bodyType.rawValue)
        w.writeLengthPrefixed(body)
    }

    init(reading r: inout ByteReader) throws {
        id = try r.readBytes(16, "delivery id")
        hops = try r.readByte("hops")
        guard hops <= Limits.maxHops else { throw WireError.malformedMessage("hops \(hops) over \(Limits.maxHops)") }
        expires = try r.readVarint("expires")
        let n = try r.readVarint("recipient count")
        guard (1...UInt64(Limits.maxRecipients)).contains(n) else {
            throw WireError.malformedMessage("recipient count \(n) outside 1...\(Limits.maxRecipients)")
        }
        recipients = try (0..<n).map { _ in NodeID(publicKey: try r.readBytes(32, "recipient"))! }
        guard Set(recipients).count == recipients.count else { throw WireError.malformedMessage("duplicate recipient") }
        let type = try r.readByte("body type")
        guard let bodyType = BodyType(rawValue: type) else {
            throw WireError.malformedMessage("unknown body type \(type)")
        }
        self.bodyType = bodyType
        body = try r.readLengthPrefixed("body", maxLength: Limits.maxBodyBytes)
        guard !body.isEmpty else { throw WireError.malformedMessage("empty delivery body") }
    }
}

/// The recipient's signed statement that it committed a delivery's body.
public struct DeliveryAck: Sendable, Equatable {
    public var deliveryID: [UInt8]
    public var bodyHash: [UInt8]
    public var recipient: NodeID
    public var signature: [UInt8]

    public init(deliveryID: [UInt8], bodyHash: [UInt8], recipient: NodeID, signature: [UInt8]) {
        self.deliveryID = deliveryID
        self.bodyHash = bodyHash
        self.recipient = recipient
        self.signature = signature
    }

    /// `"souk/ack/v1" || 0x00 || u8 len(network) || network || delivery id || body hash`.
    public static func signedMessage(network: String, deliveryID: [UInt8], bodyHash: [UInt8]) -> [UInt8] {
        Array("souk/ack/v1".utf8) + [0, UInt8(network.utf8.count)] + Array(network.utf8) + deliveryID + bodyHash
    }

    /// Signs the acknowledgement of `delivery` as `key` (a recipient), on `network`.
    public init(signing delivery: Delivery, network: String, key: SigningKey) {
        let hash = delivery.bodyHash
        self.init(
            deliveryID: delivery.id, bodyHash: hash, recipient: NodeID(publicKey: key.publicKey)!,
            signature: key.sign(Self.signedMessage(network: network, deliveryID: delivery.id, bodyHash: hash)))
    }

    /// True when the recipient's key signed exactly this delivery id and body hash on `network`.
    public func verifies(network: String) -> Bool {
        Ed25519.verify(
            signature: signature,
            message: Self.signedMessage(network: network, deliveryID: deliveryID, bodyHash: bodyHash),
            publicKey: recipient.publicKey)
    }

    func encode(into w: inout ByteWriter) {
        w.writeBytes(deliveryID)
        w.writeBytes(bodyHash)
        w.writeBytes(recipient.publicKey)
        w.writeBytes(signature)
    }

    init(reading r: inout ByteReader) throws {
        deliveryID = try r.readBytes(16, "delivery id")
        bodyHash = try r.readBytes(32, "body hash")
        recipient = NodeID(publicKey: try r.readBytes(32, "recipient"))!
        signature = try r.readBytes(64, "signature")
    }
}
