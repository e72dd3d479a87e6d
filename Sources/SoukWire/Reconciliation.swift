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

    /// The "done" message: one skip range up to infinity.
    public static let done = ReconMessage(ranges: [ReconRange(upper: .infinity, mode: .skip)])

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
        // A bound is the point (timestamp, prefix padded with zeros): (2^64 − 1, 00) is infinity too.
        guard !ReconBound.lessThan(previous, .infinity) else {
            throw WireError.malformedMessage("the last range must end at infinity")
        }
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

/// The set a node reconciles, as the reconciler reads it: fingerprints and items of ranges.
/// `SortedReconItems` holds one in memory; the node reads its store, where the fingerprint of the
/// whole set comes from running totals, so a round between two nodes in sync costs no scan.
public protocol ReconSet: Sendable {
    /// Fingerprint and number of the items in `[lower, upper)`.
    func summary(from lower: ReconBound, to upper: ReconBound) -> (fingerprint: [UInt8], count: Int)
    /// The items in `[lower, upper)`, in order.
    func items(from lower: ReconBound, to upper: ReconBound) -> [ReconItem]
}

/// A reconciled set held in memory, sorted once.
public struct SortedReconItems: ReconSet {
    public let items: [ReconItem]

    public init(_ items: [ReconItem]) { self.items = items.sorted() }

    public func summary(from lower: ReconBound, to upper: ReconBound) -> (fingerprint: [UInt8], count: Int) {
        let slice = self.slice(lower, upper)
        return (Reconciler.fingerprint(slice), slice.count)
    }

    public func items(from lower: ReconBound, to upper: ReconBound) -> [ReconItem] { Array(slice(lower, upper)) }

    private func slice(_ lower: ReconBound, _ upper: ReconBound) -> ArraySlice<ReconItem> {
        let lo = lower == .zero ? 0 : firstIndex(atOrAbove: lower)
        let hi = max(lo, firstIndex(atOrAbove: upper))
        return items[lo..<hi]
    }

    private func firstIndex(atOrAbove bound: ReconBound) -> Int {
        if bound == .infinity { return items.count }
        var lo = 0
        var hi = items.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bound.isAbove(items[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// Range-based set reconciliation in the manner of negentropy, over this node's current items.
/// Pure: `process` turns a received round into the reply plus what to fetch and what to push.
/// Cost is about the size of the difference: equal ranges collapse to one fingerprint, and only
/// ranges that differ are read item by item.
public struct Reconciler: Sendable {
    /// A differing range with more items than this is split into `branching` sub-ranges.
    public static let idListThreshold = 32
    public static let branching = 16

    public let set: any ReconSet

    public init(set: any ReconSet) { self.set = set }

    /// A reconciler over items held in memory.
    public init(items: [ReconItem]) { self.init(set: SortedReconItems(items)) }

    /// What the initiator sends first: one fingerprint (or the id list when small) of everything.
    public func initialMessage() -> ReconMessage {
        let whole = set.summary(from: .zero, to: .infinity)
        if whole.count <= Reconciler.idListThreshold {
            let ids = set.items(from: .zero, to: .infinity).map { ShortID($0.id) }
            return ReconMessage(ranges: [ReconRange(upper: .infinity, mode: .idList(ids))])
        }
        return ReconMessage(ranges: [ReconRange(upper: .infinity, mode: .fingerprint(whole.fingerprint))])
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
        var lower = ReconBound.zero
        for (index, range) in message.ranges.enumerated() {
            defer { lower = range.upper }
            // Every reply must stay decodable (at most `maxRanges`): split only while the budget
            // allows; a range left whole is split in a later round.
            let stillToAnswer = message.ranges.count - index - 1
            let maySplit = out.count + stillToAnswer + Reconciler.branching <= ReconMessage.maxRanges
            switch range.mode {
            case .skip:
                out.append(ReconRange(upper: range.upper, mode: .skip))
            case .fingerprint(let theirs):
                let mine = set.summary(from: lower, to: range.upper)
                if mine.fingerprint == theirs {
                    out.append(ReconRange(upper: range.upper, mode: .skip))
                } else if mine.count <= Reconciler.idListThreshold || maySplit {
                    out += summarise(set.items(from: lower, to: range.upper), upper: range.upper)
                } else {
                    out.append(ReconRange(upper: range.upper, mode: .fingerprint(mine.fingerprint)))
                }
            case .idList(let theirs):
                let mine = set.items(from: lower, to: range.upper)
                let theirSet = Set(theirs)
                let mineShort = Set(mine.map { ShortID($0.id) })
                need += theirs.filter { !mineShort.contains($0) }
                have += mine.filter { !theirSet.contains(ShortID($0.id)) }.map(\.id)
                out.append(ReconRange(upper: range.upper, mode: .skip))
            }
        }
        let merged = Reconciler.mergeSkips(out)
        let reply = merged.allSatisfy { $0.mode == .skip } ? nil : ReconMessage(ranges: merged)
        return Outcome(reply: reply, need: need, have: have)
    }

    /// Describes `items` (all below `upper`): an id list when small, else fingerprints of groups of
    /// `ceil(n / branching)` consecutive items (the last group may be shorter).
    private func summarise(_ items: [ReconItem], upper: ReconBound) -> [ReconRange] {
        if items.count <= Reconciler.idListThreshold {
            return [ReconRange(upper: upper, mode: .idList(items.map { ShortID($0.id) }))]
        }
        var ranges: [ReconRange] = []
        let per = (items.count + Reconciler.branching - 1) / Reconciler.branching
        var start = 0
        while start < items.count {
            let end = min(start + per, items.count)
            let bound = end == items.count ? upper : ReconBound.between(items[end - 1], items[end])
            ranges.append(ReconRange(upper: bound, mode: .fingerprint(Reconciler.fingerprint(items[start..<end]))))
            start = end
        }
        return ranges
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
        var sum: [UInt8] = []
        sum.reserveCapacity(32)
        for l in limbs { for b in 0..<8 { sum.append(UInt8(truncatingIfNeeded: l >> (8 * UInt64(b)))) } }
        return fingerprint(sum: sum, count: slice.count)
    }

    /// The fingerprint of a range from its id sum (32 bytes, little-endian, mod 2^256) and count.
    public static func fingerprint(sum: [UInt8], count: Int) -> [UInt8] {
        var w = ByteWriter(capacity: 42)
        w.writeBytes(sum)
        w.writeVarint(UInt64(count))
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
