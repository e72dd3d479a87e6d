/// What one sealed delivery between trade parties carries (`Specs/trade.md` §9): signed envelopes
/// (trade steps, resolution signatures, chat), an order's private fields, and digests that ask the
/// recipient for the objects of a trade the requester lacks. Padded with zeros to a power of two
/// (at least 256 bytes), so a relay learns little from the size.
///
/// Layout: `0x01 | varint n | n × length-prefixed envelope | length-prefixed private blob |
/// varint m | m × (trade_id (32) | requester (32) | varint k | k × object id (32)) | zero padding`.
public struct TradeBundle: Sendable, Equatable {
    public enum Limits {
        public static let maxEnvelopes = 16
        public static let maxPrivateBytes = 4_096
        public static let maxDigests = 16
        public static let maxDigestIDs = 128
        /// The largest padded plaintext: sealed (48 bytes more) it fits a delivery body (64 KiB).
        public static let maxPaddedBytes = 32 * 1024
        public static let minPaddedBytes = 256
    }

    /// "These are the objects of `tradeID` I hold; send `requester` the others."
    public struct Digest: Sendable, Equatable {
        public var tradeID: ObjectID
        public var requester: NodeID
        public var ids: [ObjectID]

        public init(tradeID: ObjectID, requester: NodeID, ids: [ObjectID]) {
            self.tradeID = tradeID
            self.requester = requester
            self.ids = ids
        }
    }

    public var envelopes: [[UInt8]]
    public var privateBlob: [UInt8]
    public var digests: [Digest]

    public init(envelopes: [[UInt8]] = [], privateBlob: [UInt8] = [], digests: [Digest] = []) {
        self.envelopes = envelopes
        self.privateBlob = privateBlob
        self.digests = digests
    }

    /// The padded plaintext, or `nil` when it exceeds the limits.
    public func encoded() -> [UInt8]? {
        guard envelopes.count <= Limits.maxEnvelopes, privateBlob.count <= Limits.maxPrivateBytes,
            digests.count <= Limits.maxDigests, digests.allSatisfy({ $0.ids.count <= Limits.maxDigestIDs })
        else { return nil }
        var w = ByteWriter(capacity: 1024)
        w.writeByte(1)
        w.writeVarint(UInt64(envelopes.count))
        for e in envelopes { w.writeLengthPrefixed(e) }
        w.writeLengthPrefixed(privateBlob)
        w.writeVarint(UInt64(digests.count))
        for d in digests {
            w.writeBytes(d.tradeID.bytes)
            w.writeBytes(d.requester.publicKey)
            w.writeVarint(UInt64(d.ids.count))
            for id in d.ids { w.writeBytes(id.bytes) }
        }
        var size = Limits.minPaddedBytes
        while size < w.bytes.count { size *= 2 }
        guard size <= Limits.maxPaddedBytes else { return nil }
        return w.bytes + [UInt8](repeating: 0, count: size - w.bytes.count)
    }

    /// - Throws: `DecodingError` for a wrong format, counts over the limits, or non-zero padding.
    public init(decoding bytes: [UInt8]) throws(DecodingError) {
        guard bytes.count <= Limits.maxPaddedBytes else {
            throw .tooLong(field: "bundle", limit: Limits.maxPaddedBytes, actual: bytes.count)
        }
        var r = ByteReader(bytes)
        let format = try r.readByte("bundle format")
        guard format == 1 else { throw .unsupportedVersion(what: "trade bundle", version: format) }
        let n = try r.readVarint("envelopes count")
        guard n <= UInt64(Limits.maxEnvelopes) else {
            throw .tooLong(field: "envelopes", limit: Limits.maxEnvelopes, actual: Int(clamping: n))
        }
        envelopes = []
        for _ in 0..<n { envelopes.append(try r.readLengthPrefixed("envelope", maxLength: Envelope.maxEncodedBytes)) }
        privateBlob = try r.readLengthPrefixed("private", maxLength: Limits.maxPrivateBytes)
        let m = try r.readVarint("digests count")
        guard m <= UInt64(Limits.maxDigests) else {
            throw .tooLong(field: "digests", limit: Limits.maxDigests, actual: Int(clamping: m))
        }
        digests = []
        for _ in 0..<m {
            let trade = ObjectID(bytes: try r.readBytes(32, "digest trade"))
            let requester = NodeID(publicKey: try r.readBytes(32, "digest requester"))!
            let k = try r.readVarint("digest ids count")
            guard k <= UInt64(Limits.maxDigestIDs) else {
                throw .tooLong(field: "digest ids", limit: Limits.maxDigestIDs, actual: Int(clamping: k))
            }
            var ids: [ObjectID] = []
            for _ in 0..<k { ids.append(ObjectID(bytes: try r.readBytes(32, "digest id"))) }
            digests.append(Digest(tradeID: trade, requester: requester, ids: ids))
        }
        let padding = try r.readBytes(r.remaining, "padding")
        guard padding.allSatisfy({ $0 == 0 }) else {
            throw .invalidValue(field: "padding", reason: "padding must be zero bytes")
        }
    }
}
