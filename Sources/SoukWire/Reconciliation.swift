public import SoukCore
import SoukCrypto

/// One element of the reconciled set: a current object and its timestamp (a listing's
/// `updated_at`, a retraction's `retracted_at`). Ordered by (timestamp, id).
public struct ReconItem: Comparable, Hashable, Sendable {
    public let timestamp: UInt64
    public let id: ObjectID

    public init(timestamp: UInt64, id: ObjectID) {
        self.timestamp = timestamp
        self.id = id
    }

    public static func < (a: ReconItem, b: ReconItem) -> Bool {
        a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.id.bytes.lexicographicallyPrecedes(b.id.bytes)
    }
}

/// A point in (timestamp, id) order: the timestamp and an id prefix (implicitly padded with zeros).
/// Ranges are half-open: `[previous bound, this bound)`.
public struct ReconBound: Sendable, Equatable {
    public var timestamp: UInt64
    public var prefix: [UInt8]

    public static let zero = ReconBound(timestamp: 0, prefix: [])
    public static let infinity = ReconBound(timestamp: .max, prefix: [])

    public init(timestamp: UInt64, prefix: [UInt8]) {
        self.timestamp = timestamp
        self.prefix = prefix
    }

    /// True when `item` sorts before this bound.
    func isAbove(_ item: ReconItem) -> Bool {
        if item.timestamp != timestamp { return item.timestamp < timestamp }
        for i in 0..<32 {
            let b: UInt8 = i < prefix.count ? prefix[i] : 0
            if item.id.bytes[i] != b { return item.id.bytes[i] < b }
        }
        return false
    }

    /// The shortest bound `b` with `previous < b <= next`.
    static func between(_ previous: ReconItem, _ next: ReconItem) -> ReconBound {
        guard previous.timestamp == next.timestamp else { return ReconBound(timestamp: next.timestamp, prefix: []) }
        var k = 0
        while k < 32 && previous.id.bytes[k] == next.id.bytes[k] { k += 1 }
        return ReconBound(timestamp: next.timestamp, prefix: Array(next.id.bytes.prefix(k + 1)))
    }
}

/// One range of a reconciliation message.
public struct ReconRange: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Nothing more to do in this range.
        case skip
        /// `BLAKE2b-128(sum of ids mod 2^256 (little-endian) || varint count)` of the sender's items.
        case fingerprint([UInt8])
        /// Every item the sender has in the range, as short ids.
        case idList([ShortID])
    }

    public var upper: ReconBound
    public var mode: Mode

    public init(upper: ReconBound, mode: Mode) {
        self.upper = upper
        self.mode = mode
    }
}

/// A reconciliation round: consecutive ranges from (0, "") to infinity.
public struct ReconMessage: Sendable, Equatable {
    public static let maxRanges = 256
    public var ranges: [ReconRange]

    public init(ranges: [ReconRange]) { self.ranges = ranges }

    /// True when every range is `skip`: the receiver is done and sends nothing back.
    public var isDone: Bool { ranges.allSatisfy { $0.mode == .skip } }

    func encode(into w: inout ByteWriter) {
        w.writeVarint(UInt64(ranges.count))
        for r in ranges {
            w.writeVarint(r.upper.timestamp)
            w.writeLengthPrefixed(r.upper.prefix)
            switch r.mode {
            case .skip:
                w.writeByte(0)
            case .fingerprint(let fp):
                w.writeByte(1)
                w.writeBytes(fp)
            case .idList(let ids):
                w.writeByte(2)
                w.writeVarint(UInt64(ids.count))
                for id in ids { w.writeBytes(id.bytes) }
            }
        }
    }

    init(reading r: inout ByteReader) throws {
        let n = try r.readVarint("range count")
        guard n >= 1, n <= UInt64(ReconMessage.maxRanges) else {
            throw WireError.malformedMessage("range count \(n) outside 1...\(ReconMessage.maxRanges)")
        }
        var ranges: [ReconRange] = []
        var previous = ReconBound.zero
        for _ in 0..<Int(n) {
            let ts = try r.readVarint("bound timestamp")
            let prefix = try r.readLengthPrefixed("bound prefix", maxLength: 32)
            let bound = ReconBound(timestamp: ts, prefix: prefix)
            let mode: ReconRange.Mode
            switch try r.readByte("range mode") {
            case 0: mode = .skip
            case 1: mode = .fingerprint(try r.readBytes(16, "fingerprint"))
            case 2:
                let count = try r.readVarint("id count")
                guard count <= UInt64(PeerMessage.Limits.maxIDs) else {
                    throw WireError.malformedMessage("id list of \(count) exceeds \(PeerMessage.Limits.maxIDs)")
                }
                var ids: [ShortID] = []
                for _ in 0..<count { ids.append(ShortID(bytes: try r.readBytes(ShortID.byteCount, "short id"))!) }
                mode = .idList(ids)
            case let m: throw WireError.malformedMessage("unknown range mode \(m)")
            }
            guard ReconBound.lessThan(previous, bound) else {
                throw WireError.malformedMessage("range bounds are not increasing")
            }
            previous = bound
            ranges.append(ReconRange(upper: bound, mode: mode))
        }
        guard previous == .infinity else { throw WireError.malformedMessage("the last range must end at infinity") }
        self.ranges = ranges
    }
}

extension ReconBound {
    static func lessThan(_ a: ReconBound, _ b: ReconBound) -> Bool {
        if a.timestamp != b.timestamp { return a.timestamp < b.timestamp }
        let n = max(a.prefix.count, b.prefix.count)
        for i in 0..<n {
            let x: UInt8 = i < a.prefix.count ? a.prefix[i] : 0
            let y: UInt8 = i < b.prefix.count ? b.prefix[i] : 0
            if x != y { return x < y }
        }
        return false
    }
}

/// Range-based set reconciliation in the manner of negentropy, over this node's current items.
/// Pure: `process` turns a received round into the reply plus what to fetch and what to push.
/// Cost is about the size of the difference: equal ranges collapse to one fingerprint.
public struct Reconciler: Sendable {
    /// A differing range with more items than this is split into `branching` sub-ranges.
    public static let idListThreshold = 32
    public static let branching = 16

    public let items: [ReconItem]

    public init(items: [ReconItem]) { self.items = items.sorted() }

    /// What the initiator sends first: one fingerprint (or the id list when small) of everything.
    public func initialMessage() -> ReconMessage {
        ReconMessage(ranges: summarise(items[...], upper: .infinity))
    }

    /// The outcome of processing one received round.
    public struct Outcome: Sendable, Equatable {
        /// The next round to send, or nil when reconciliation is finished.
        public var reply: ReconMessage?
        /// Items the peer has and we lack: request them with `getObjects`.
        public var need: [ShortID]
        /// Items we have and the peer lacks: push them with `objects`.
        public var have: [ObjectID]
    }

    public func process(_ message: ReconMessage) -> Outcome {
        var out: [ReconRange] = []
        var need: [ShortID] = []
        var have: [ObjectID] = []
        var lowerIndex = 0
        for (index, range) in message.ranges.enumerated() {
            // Every reply must stay decodable (at most `maxRanges`): split only while the budget
            // allows; a range left whole is split in a later round.
            let stillToAnswer = message.ranges.count - index - 1
            let maySplit = out.count + stillToAnswer + Reconciler.branching <= ReconMessage.maxRanges
            let upperIndex = firstIndex(atOrAbove: range.upper, from: lowerIndex)
            let mine = items[lowerIndex..<upperIndex]
            switch range.mode {
            case .skip:
                out.append(ReconRange(upper: range.upper, mode: .skip))
            case .fingerprint(let theirs):
                if Reconciler.fingerprint(mine) == theirs {
                    out.append(ReconRange(upper: range.upper, mode: .skip))
                } else {
                    out += summarise(mine, upper: range.upper, forceSplitOrList: maySplit)
                }
            case .idList(let theirs):
                let theirSet = Set(theirs)
                let mineShort = Set(mine.map { ShortID($0.id) })
                need += theirs.filter { !mineShort.contains($0) }
                have += mine.filter { !theirSet.contains(ShortID($0.id)) }.map(\.id)
                out.append(ReconRange(upper: range.upper, mode: .skip))
            }
            lowerIndex = upperIndex
        }
        let merged = Reconciler.mergeSkips(out)
        let reply = merged.allSatisfy { $0.mode == .skip } ? nil : ReconMessage(ranges: merged)
        return Outcome(reply: reply, need: need, have: have)
    }

    /// Describes `slice` (the items below `upper`): an id list when small, else fingerprints of
    /// `branching` sub-ranges (or one fingerprint at the top level).
    private func summarise(_ slice: ArraySlice<ReconItem>, upper: ReconBound, forceSplitOrList: Bool = false)
        -> [ReconRange]
    {
        if slice.count <= Reconciler.idListThreshold {
            return [ReconRange(upper: upper, mode: .idList(slice.map { ShortID($0.id) }))]
        }
        if !forceSplitOrList {
            return [ReconRange(upper: upper, mode: .fingerprint(Reconciler.fingerprint(slice)))]
        }
        var ranges: [ReconRange] = []
        let per = (slice.count + Reconciler.branching - 1) / Reconciler.branching
        var start = slice.startIndex
        while start < slice.endIndex {
            let end = min(start + per, slice.endIndex)
            let bound = end == slice.endIndex ? upper : ReconBound.between(items[end - 1], items[end])
            ranges.append(ReconRange(upper: bound, mode: .fingerprint(Reconciler.fingerprint(items[start..<end]))))
            start = end
        }
        return ranges
    }

    private func firstIndex(atOrAbove bound: ReconBound, from: Int) -> Int {
        if bound == .infinity { return items.count }
        var lo = from
        var hi = items.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bound.isAbove(items[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// `BLAKE2b-128(sum mod 2^256 of ids read as little-endian integers || varint count)`.
    public static func fingerprint(_ slice: ArraySlice<ReconItem>) -> [UInt8] {
        var limbs = [UInt64](repeating: 0, count: 4)
        for item in slice {
            var carry: UInt64 = 0
            for l in 0..<4 {
                var v: UInt64 = 0
                for b in 0..<8 { v |= UInt64(item.id.bytes[l * 8 + b]) << (8 * UInt64(b)) }
                let (s1, o1) = limbs[l].addingReportingOverflow(v)
                let (s2, o2) = s1.addingReportingOverflow(carry)
                limbs[l] = s2
                carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
            }
        }
        var w = ByteWriter(capacity: 40)
        for l in limbs { for b in 0..<8 { w.writeByte(UInt8(truncatingIfNeeded: l >> (8 * UInt64(b)))) } }
        w.writeVarint(UInt64(slice.count))
        return Blake2b.hash(w.bytes, outputLength: 16)
    }

    static func mergeSkips(_ ranges: [ReconRange]) -> [ReconRange] {
        var out: [ReconRange] = []
        for r in ranges {
            if r.mode == .skip, let last = out.last, last.mode == .skip {
                out[out.count - 1].upper = r.upper
            } else {
                out.append(r)
            }
        }
        return out
    }
}
