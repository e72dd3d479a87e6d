/// Proof that an author forked its reputation log (`Specs/reputation.md`), kind 9 `fork-proof`,
/// gossiped ahead of other traffic: two valid entries of one author at one seq. Anyone who holds
/// both may sign and publish it (the envelope's signer is the reporter, not the accused); every
/// node checks it alone. From the fork on, the author's log is frozen and its trust counts nothing.
///
/// Layout: `0x01 | length-prefixed entry envelope | length-prefixed entry envelope`, the two in
/// object-id order.
public struct ForkProof: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1

    public var first: [UInt8]
    public var second: [UInt8]

    /// Orders the two envelopes by object id, so one fork has one proof.
    public init(_ a: [UInt8], _ b: [UInt8]) {
        if Envelope.id(of: a) < Envelope.id(of: b) {
            first = a
            second = b
        } else {
            first = b
            second = a
        }
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: first.count + second.count + 8)
        w.writeByte(Self.formatVersion)
        w.writeLengthPrefixed(first)
        w.writeLengthPrefixed(second)
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        let (a, b) = try PayloadReader.read(payload, kind: .forkProof, format: Self.formatVersion) { r in
            (
                try r.readLengthPrefixed("first entry", maxLength: Envelope.maxEncodedBytes),
                try r.readLengthPrefixed("second entry", maxLength: Envelope.maxEncodedBytes)
            )
        }
        first = a
        second = b
        _ = try check()
    }

    /// The author, the seq, and both entries' ids, once everything checks.
    /// - Throws: `.invalidForkProof` unless both are valid log entries of one author at one seq,
    ///   different, signed by that author, in id order.
    public func check() throws(ValidationError) -> (author: NodeID, seq: UInt64, ids: [ObjectID]) {
        func refuse(_ m: String) -> ValidationError { ValidationError(.invalidForkProof, m) }
        var entries: [(Envelope, LogEntry)] = []
        for bytes in [first, second] {
            guard let e = try? Envelope(decoding: bytes), e.kind == .logEntry, e.hasValidSignature,
                let entry = try? LogEntry(decoding: e.payload)
            else { throw refuse("a fork proof holds two signed log entries") }
            entries.append((e, entry))
        }
        let (ea, a) = entries[0]
        let (eb, b) = entries[1]
        guard ea.signer == eb.signer, a.seq == b.seq, a.network == b.network else {
            throw refuse("the two entries are not of one author at one seq")
        }
        guard ea.id < eb.id else { throw refuse("the entries must differ and be in object-id order") }
        return (NodeID(publicKey: ea.signer)!, a.seq, [ea.id, eb.id])
    }
}

extension ObjectKind {
    /// Kind 9: proof that an author signed two log entries at one seq (`ForkProof`).
    public static let forkProof = ObjectKind(rawValue: 9, name: "fork-proof")
}

extension ForkProof: ObjectPayload {
    public static var kind: ObjectKind { .forkProof }
    /// Two log entries (each at most 24 KiB of payload) with their envelopes.
    public static var maxPayloadBytes: Int { 2 * (24 * 1024 + 110) + 8 }
    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) {}
    /// Sorted first in reconciliation (time 0): fork proofs travel ahead of other objects.
    public var timestamp: UInt64 { 0 }
    public var retainUntil: UInt64? { nil }
}
