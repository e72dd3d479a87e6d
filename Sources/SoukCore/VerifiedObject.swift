import SoukCrypto

/// An envelope whose signature, schema, limits and timestamps have all been checked
/// (DESIGN invariant 2). Only values of this type reach the store or a peer.
///
/// The payload is held as its kind's type; `payload(as:)` returns it typed. Two verified objects
/// are equal when their envelope bytes are (the payload is a function of them).
public struct VerifiedObject: Sendable, Equatable {
    public let envelope: Envelope
    public let payload: any ObjectPayload

    public var id: ObjectID { envelope.id }
    public var signer: [UInt8] { envelope.signer }
    public var kind: ObjectKind { envelope.kind }

    /// The object's own time (`ObjectPayload.timestamp`).
    public var timestamp: UInt64 { payload.timestamp }

    /// When nodes may forget it, or `nil` (`ObjectPayload.retainUntil`).
    public var retainUntil: UInt64? { payload.retainUntil }

    /// Every dependency this object satisfies once stored: its id, and what its kind declares.
    public var provides: [ObjectDependency] { [.object(id)] + payload.provides(signer: signer) }

    /// The payload as `type`, or `nil` if the object is of another kind.
    public func payload<P: ObjectPayload>(as type: P.Type) -> P? { payload as? P }

    /// Decodes and fully verifies envelope bytes.
    /// - Parameters:
    ///   - bytes: the envelope exactly as received.
    ///   - now: the verifier's clock, Unix seconds.
    /// - Throws: `ValidationError`: `.malformed` for bytes that do not decode, `.unknownKind` for a
    ///   kind this node does not support, `.badSignature`, or the code of the failed payload rule.
    public init(bytes: [UInt8], now: UInt64) throws(ValidationError) {
        let envelope: Envelope
        do {
            envelope = try Envelope(decoding: bytes)
        } catch .unknownKind(let k) {
            throw ValidationError(.unknownKind, "unknown object kind \(k) (from a newer release?)")
        } catch {
            throw ValidationError(.malformed, "malformed envelope: \(error)")
        }
        try self.init(envelope: envelope, now: now)
    }

    /// Verifies an already decoded envelope: signature, then the kind's decoding and rules.
    public init(envelope: Envelope, now: UInt64) throws(ValidationError) {
        guard envelope.payload.count <= envelope.kind.maxPayloadBytes else {
            throw ValidationError(
                .malformed,
                "the \(envelope.kind) payload is \(envelope.payload.count) bytes, over its \(envelope.kind.maxPayloadBytes)"
            )
        }
        guard envelope.hasValidSignature else {
            throw ValidationError(.badSignature, "signature does not verify for signer \(envelope.signer.hexString)")
        }
        let payload = try envelope.kind.payloadType.init(decoding: envelope.payload)
        try payload.validate(signer: envelope.signer, now: now)
        self.envelope = envelope
        self.payload = payload
    }

    public static func == (a: VerifiedObject, b: VerifiedObject) -> Bool { a.envelope == b.envelope }
}

extension Array where Element == UInt8 {
    var hexString: String { Hex.encode(self) }
}
