public import SoukCrypto

/// A signed object: `{kind, payload bytes, signer public key, signature}` (DESIGN invariant 1).
///
/// The signature covers `kind.domainTag || payload`; verification uses the payload bytes exactly as
/// received and never re-encodes them. The object id is BLAKE2b-256 of the encoded envelope.
///
/// The kind must be one this node knows (`ObjectRegistry`); decoding an unknown kind throws
/// `DecodingError.unknownKind`, which a node drops without punishing the sender.
///
/// Wire layout (see `Specs/objects.md`):
/// `0x01 | kind u8 | varint payload length | payload | signer (32) | signature (64)`.
public struct Envelope: Sendable, Equatable {
    public static let formatVersion: UInt8 = 0x01
    /// Hard cap on any payload; a larger length prefix is refused before reading it.
    public static let maxPayloadBytes = 64 * 1024
    /// The largest possible encoded envelope.
    public static let maxEncodedBytes = 2 + 3 + maxPayloadBytes + Ed25519.publicKeyBytes + Ed25519.signatureBytes

    public let kind: ObjectKind
    public let payload: [UInt8]
    public let signer: [UInt8]
    public let signature: [UInt8]
    /// The exact bytes this envelope was decoded from or encoded to.
    public let bytes: [UInt8]

    /// BLAKE2b-256 of `bytes`.
    public var id: ObjectID { Envelope.id(of: bytes) }

    /// The object id of encoded envelope bytes (whether or not they decode).
    public static func id(of bytes: [UInt8]) -> ObjectID { ObjectID(bytes: Blake2b.hash256(bytes)) }

    /// Signs `payload` as an object of `kind`.
    public init(kind: ObjectKind, payload: [UInt8], signingKey: SigningKey) {
        let signature = signingKey.sign(kind.domainTag + payload)
        self.init(kind: kind, payload: payload, signer: signingKey.publicKey, signature: signature)
    }

    private init(kind: ObjectKind, payload: [UInt8], signer: [UInt8], signature: [UInt8]) {
        self.kind = kind
        self.payload = payload
        self.signer = signer
        self.signature = signature
        var w = ByteWriter(capacity: payload.count + 110)
        w.writeByte(Envelope.formatVersion)
        w.writeByte(kind.rawValue)
        w.writeLengthPrefixed(payload)
        w.writeBytes(signer)
        w.writeBytes(signature)
        self.bytes = w.bytes
    }

    /// Decodes an envelope without checking its signature.
    /// - Throws: `DecodingError` for a wrong version, unknown kind, oversized or truncated payload,
    ///   or trailing bytes.
    public init(decoding bytes: [UInt8]) throws(DecodingError) {
        guard bytes.count <= Envelope.maxEncodedBytes else {
            throw .tooLong(field: "envelope", limit: Envelope.maxEncodedBytes, actual: bytes.count)
        }
        var r = ByteReader(bytes)
        let version = try r.readByte("envelope version")
        guard version == Envelope.formatVersion else { throw .unsupportedVersion(what: "envelope", version: version) }
        let kindByte = try r.readByte("envelope kind")
        guard let kind = ObjectKind(rawValue: kindByte) else { throw .unknownKind(kindByte) }
        let payload = try r.readLengthPrefixed("payload", maxLength: kind.maxPayloadBytes)
        let signer = try r.readBytes(Ed25519.publicKeyBytes, "signer public key")
        let signature = try r.readBytes(Ed25519.signatureBytes, "signature")
        try r.expectEnd("envelope")
        self.kind = kind
        self.payload = payload
        self.signer = signer
        self.signature = signature
        self.bytes = bytes
    }

    /// Checks the signature over the domain tag and the payload bytes as received.
    public var hasValidSignature: Bool {
        Ed25519.verify(signature: signature, message: kind.domainTag + payload, publicKey: signer)
    }
}

/// A 32-byte object id (BLAKE2b-256 of envelope bytes), printed as 64 hex digits.
public struct ObjectID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init?(hex: String) {
        guard let b = Hex.decode(hex), b.count == 32 else { return nil }
        bytes = b
    }
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
    public static func < (a: ObjectID, b: ObjectID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}
