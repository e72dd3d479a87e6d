import SoukCrypto

/// One entry of an identity's append-only, hash-chained reputation log (`Specs/reputation.md`),
/// kind 8 `log-entry`, gossiped to everyone: entry `seq` names the object id of entry `seq - 1`
/// (all zeros for the first), so the chain is fixed by its latest entry. The payload is a review,
/// a reply, a vouch, the revocation of a vouch, or an arbiter's ruling summary. An entry whose
/// payload breaks a rule stays a link of the chain with its payload void (`LogEntry.payloadError`),
/// so one bad entry never strands the rest.
///
/// Layout: `0x01 | string network | varint seq | prev (32) | varint created_at | u8 type | body`.
public struct LogEntry: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1

    public enum Limits {
        public static let maxSeq: UInt64 = UInt64(UInt32.max)
        public static let reviewTextMaxCharacters = 2_000
        public static let reviewTextMaxBytes = 8 * 1024
        public static let noteMaxBytes = 1_024
    }

    public enum EntryType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case review = 1
        case reply = 2
        case vouch = 3
        case revoke = 4
        case rulings = 5

        public var description: String {
            switch self {
            case .review: return "review"
            case .reply: return "reply"
            case .vouch: return "vouch"
            case .revoke: return "revoke"
            case .rulings: return "rulings"
            }
        }
    }

    /// A review of the other party of a settled trade (or of its arbiter after a dispute),
    /// carrying the settlement proof any node checks without having seen the trade.
    public struct Review: Sendable, Equatable {
        public var subject: NodeID
        /// 1…5.
        public var rating: UInt8
        /// 0 (not rated) or 1…5 each.
        public var described: UInt8
        public var communication: UInt8
        public var speed: UInt8
        public var text: String
        public var proof: SettlementProof

        public init(
            subject: NodeID, rating: UInt8, described: UInt8 = 0, communication: UInt8 = 0, speed: UInt8 = 0,
            text: String, proof: SettlementProof
        ) {
            self.subject = subject
            self.rating = rating
            self.described = described
            self.communication = communication
            self.speed = speed
            self.text = text
            self.proof = proof
        }
    }

    /// An arbiter's public record: counts and times only, never trade ids or amounts.
    public struct Rulings: Sendable, Equatable {
        public var acknowledged: UInt64
        public var ruled: UInt64
        public var lapsed: UInt64
        public var medianHoursToRule: UInt64

        public init(acknowledged: UInt64, ruled: UInt64, lapsed: UInt64, medianHoursToRule: UInt64) {
            self.acknowledged = acknowledged
            self.ruled = ruled
            self.lapsed = lapsed
            self.medianHoursToRule = medianHoursToRule
        }
    }

    public enum Body: Sendable, Equatable {
        case review(Review)
        /// The reviewed party's one reply to a review (by the review entry's object id).
        case reply(to: ObjectID, text: String)
        /// "I trust this identity" — for people you know.
        case vouch(NodeID, note: String)
        case revoke(NodeID)
        case rulings(Rulings)

        public var type: EntryType {
            switch self {
            case .review: return .review
            case .reply: return .reply
            case .vouch: return .vouch
            case .revoke: return .revoke
            case .rulings: return .rulings
            }
        }
    }

    public var network: String
    public var seq: UInt64
    /// The object id of entry `seq - 1`, or 32 zero bytes for entry 1.
    public var prev: ObjectID
    public var createdAt: UInt64
    public var body: Body

    public static let genesis = ObjectID(bytes: [UInt8](repeating: 0, count: 32))

    public init(network: String, seq: UInt64, prev: ObjectID, createdAt: UInt64, body: Body) {
        self.network = network
        self.seq = seq
        self.prev = prev
        self.createdAt = createdAt
        self.body = body
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.writeByte(Self.formatVersion)
        w.writeString(network)
        w.writeVarint(seq)
        w.writeBytes(prev.bytes)
        w.writeVarint(createdAt)
        w.writeByte(body.type.rawValue)
        switch body {
        case .review(let r):
            w.writeBytes(r.subject.publicKey)
            w.writeBytes([r.rating, r.described, r.communication, r.speed])
            w.writeString(r.text)
            w.writeLengthPrefixed(r.proof.order)
            w.writeLengthPrefixed(r.proof.accept)
            w.writeLengthPrefixed(r.proof.fallbackAck ?? [])
            w.writeVarint(UInt64(r.proof.signatures.count))
            for s in r.proof.signatures { w.writeLengthPrefixed(s) }
        case .reply(let target, let text):
            w.writeBytes(target.bytes)
            w.writeString(text)
        case .vouch(let subject, let note):
            w.writeBytes(subject.publicKey)
            w.writeString(note)
        case .revoke(let subject):
            w.writeBytes(subject.publicKey)
        case .rulings(let r):
            for v in [r.acknowledged, r.ruled, r.lapsed, r.medianHoursToRule] { w.writeVarint(v) }
        }
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .logEntry, format: Self.formatVersion) { r in
            let network = try r.readString("network", maxBytes: 200)
            let seq = try r.readVarint("seq")
            let prev = ObjectID(bytes: try r.readBytes(32, "prev"))
            let createdAt = try r.readVarint("created_at")
            let t = try r.readByte("type")
            guard let type = EntryType(rawValue: t) else {
                throw DecodingError.invalidValue(field: "type", reason: "unknown entry type \(t)")
            }
            let body: Body
            switch type {
            case .review:
                let subject = NodeID(publicKey: try r.readBytes(32, "subject"))!
                let ratings = try r.readBytes(4, "ratings")
                let text = try r.readString("text", maxBytes: Limits.reviewTextMaxBytes)
                let order = try r.readLengthPrefixed("proof order", maxLength: Envelope.maxEncodedBytes)
                let accept = try r.readLengthPrefixed("proof accept", maxLength: Envelope.maxEncodedBytes)
                let fallback = try r.readLengthPrefixed("proof fallback", maxLength: Envelope.maxEncodedBytes)
                let n = try r.readVarint("signatures count")
                guard n <= 3 else {
                    throw DecodingError.tooLong(field: "signatures", limit: 3, actual: Int(clamping: n))
                }
                var sigs: [[UInt8]] = []
                for _ in 0..<n { sigs.append(try r.readLengthPrefixed("signature", maxLength: 1_024)) }
                body = .review(
                    Review(
                        subject: subject, rating: ratings[0], described: ratings[1], communication: ratings[2],
                        speed: ratings[3], text: text,
                        proof: SettlementProof(
                            order: order, accept: accept, fallbackAck: fallback.isEmpty ? nil : fallback,
                            signatures: sigs)))
            case .reply:
                let target = ObjectID(bytes: try r.readBytes(32, "reply to"))
                body = .reply(to: target, text: try r.readString("text", maxBytes: Limits.reviewTextMaxBytes))
            case .vouch:
                let subject = NodeID(publicKey: try r.readBytes(32, "subject"))!
                body = .vouch(subject, note: try r.readString("note", maxBytes: Limits.noteMaxBytes))
            case .revoke:
                body = .revoke(NodeID(publicKey: try r.readBytes(32, "subject"))!)
            case .rulings:
                body = .rulings(
                    Rulings(
                        acknowledged: try r.readVarint("acknowledged"), ruled: try r.readVarint("ruled"),
                        lapsed: try r.readVarint("lapsed"), medianHoursToRule: try r.readVarint("median_hours")))
            }
            return LogEntry(network: network, seq: seq, prev: prev, createdAt: createdAt, body: body)
        }
        guard !network.isEmpty else { throw ValidationError(.invalidLogEntry, "network must not be empty") }
        guard seq >= 1, seq <= Limits.maxSeq else {
            throw ValidationError(.invalidLogEntry, "seq must be 1 to \(Limits.maxSeq)")
        }
        guard (seq == 1) == (prev == Self.genesis) else {
            throw ValidationError(.invalidLogEntry, "entry 1, and only entry 1, names no predecessor")
        }
    }

    /// Why the payload does not count (the entry stays a link of the chain), or `nil` when it does.
    /// Rules that need no stored state: a review's rating ranges and text, its proof (every
    /// signature, two parties, the network), the reviewer being the trade's buyer or seller and
    /// the subject the other one — or the arbiter after a dispute (the settlement paid it a fee
    /// or it signed); a vouch not for oneself.
    public func payloadError(author: NodeID) -> String? {
        switch body {
        case .review(let r):
            guard (1...5).contains(r.rating), [r.described, r.communication, r.speed].allSatisfy({ $0 <= 5 }) else {
                return "ratings are 1 to 5 (sub-ratings 0 to 5)"
            }
            guard TextRules.characterCount(r.text, atMost: Limits.reviewTextMaxCharacters),
                !TextRules.hasControl(r.text, allowNewlines: true)
            else {
                return "review text is at most \(Limits.reviewTextMaxCharacters) characters without control characters"
            }
            let v: SettlementProof.Verified
            do { v = try r.proof.verify() } catch { return "the settlement proof does not verify: \(error.message)" }
            guard v.network == network else { return "the trade is on another network" }
            let p = v.parties
            guard author == p.buyer || author == p.seller else {
                return "the reviewer is not the trade's buyer or seller"
            }
            let other = author == p.buyer ? p.seller : p.buyer
            let arbiterWorked = v.resolution.arbiterFee > 0 || v.roles.contains(.arbiter)
            let arbiterServed =
                v.roles.contains(.arbiter) && p.fallbackArbiter != nil && r.proof.fallbackAck != nil
                ? p.fallbackArbiter! : p.arbiter
            guard r.subject == other || (arbiterWorked && r.subject == arbiterServed) else {
                return "a review is of the other party (or of the arbiter after a dispute)"
            }
            return nil
        case .reply(_, let text):
            guard !text.isEmpty, TextRules.characterCount(text, atMost: Limits.reviewTextMaxCharacters),
                !TextRules.hasControl(text, allowNewlines: true)
            else { return "a reply is 1 to \(Limits.reviewTextMaxCharacters) characters" }
            return nil
        case .vouch(let subject, _), .revoke(let subject):
            return subject == author ? "nobody vouches for itself" : nil
        case .rulings:
            return nil
        }
    }

    /// The trade a review rests on (the order's object id), if this is a review.
    public var reviewedTrade: ObjectID? {
        guard case .review(let r) = body, let e = try? Envelope(decoding: r.proof.order) else { return nil }
        return e.id
    }
}

extension ObjectKind {
    /// Kind 8: an entry of an identity's reputation log (`LogEntry`).
    public static let logEntry = ObjectKind(rawValue: 8, name: "log-entry")
}

extension ObjectDependency {
    /// Entry `seq` of `author`'s log (namespace 1): what entry `seq + 1` waits for.
    public static func logEntry(author: [UInt8], seq: UInt64) -> ObjectDependency {
        var bytes = author
        for i in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: seq >> (UInt64(i) * 8))) }
        return ObjectDependency(
            namespace: 1, bytes: bytes, label: "log entry \(seq) of \(Hex.encode(author).prefix(16))")
    }
}

extension LogEntry: ObjectPayload {
    public static var kind: ObjectKind { .logEntry }
    /// A review carries its trade's order, which carries the listing (up to 16 KiB).
    public static var maxPayloadBytes: Int { 24 * 1024 }
    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) {
        try TimeRules.check(createdAt, "created_at", now: now)
    }
    public var timestamp: UInt64 { createdAt }
    /// Logs are kept: they are the reputation.
    public var retainUntil: UInt64? { nil }
    public var objectNetwork: String? { network }
    public func provides(signer: [UInt8]) -> [ObjectDependency] { [.logEntry(author: signer, seq: seq)] }
}
