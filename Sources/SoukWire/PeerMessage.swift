public import SoukCore
import SoukCrypto

/// A 16-byte prefix of an object id, used by set reconciliation and `getObjects`.
public struct ShortID: Hashable, Sendable, Comparable {
    public static let byteCount = 16
    public let bytes: [UInt8]
    public init(_ id: ObjectID) { bytes = Array(id.bytes.prefix(ShortID.byteCount)) }
    public init?(bytes: [UInt8]) {
        guard bytes.count == ShortID.byteCount else { return nil }
        self.bytes = bytes
    }
    public static func < (a: ShortID, b: ShortID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// A dialable peer address as exchanged in `addr`.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    /// Unix seconds the sender last heard from it.
    public var lastSeen: UInt64

    public init(host: String, port: UInt16, lastSeen: UInt64 = 0) {
        self.host = host
        self.port = port
        self.lastSeen = lastSeen
    }

    public var hostPort: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    public var description: String { hostPort }
}

/// The messages of an established link (see `Specs/wire.md`, "Messages"). The first byte of the
/// plaintext is the type; types 0x80 and above are optional (ignored when unknown), all others are
/// mandatory (an unknown one closes the link).
public enum PeerMessage: Sendable, Equatable {
    /// 0x01, first message in each direction.
    case hello(Hello)
    /// 0x02 / 0x03 keep-alive.
    case ping(UInt64)
    case pong(UInt64)
    /// 0x10 full envelopes (eager push, or answers to graft / getObjects).
    case objects([[UInt8]])
    /// 0x11 lazy announcement of object ids.
    case ihave([ObjectID])
    /// 0x12 "send me these and push to me eagerly from now on".
    case graft([ObjectID])
    /// 0x13 "stop pushing bodies to me; announce instead".
    case prune
    /// 0x14 request bodies by short id (after reconciliation).
    case getObjects([ShortID])
    /// 0x20 / 0x21 address exchange.
    case getAddr
    case addr([PeerAddress])
    /// 0x30 one round of range-based set reconciliation.
    case reconcile(ReconMessage)
    /// 0x81 "stop pushing bodies of these authors to me" (optional: a peer that does not know it
    /// ignores it and keeps pushing, and is pruned again).
    case pruneTrees([[UInt8]])
    /// 0x82 a body for named recipients (§15); sent only to peers advertising the `deliver` feature.
    case deliver(Delivery)
    /// 0x83 a recipient's signed acknowledgement of a delivery, routed back to its sender.
    case delivered(DeliveryAck)
    /// 0x80+ a type this node does not know and may ignore.
    case optional(type: UInt8)

    /// The fields of `hello`. `kinds` and `features` travel in an extension after `time`; a hello
    /// without it (`kinds == nil`) comes from a release that knew kinds 1 and 2 and no features.
    public struct Hello: Sendable, Equatable {
        public var listenPort: UInt16
        public var userAgent: String
        public var time: UInt64
        /// The object kind bytes the sender stores and relays, or `nil` for a hello without the extension.
        public var kinds: [UInt8]?
        /// Optional protocol features the sender supports (for example `prune-trees`).
        public var features: [String]

        /// The kinds a hello without the extension implies: listing and listing-retraction.
        public static let legacyKinds: [UInt8] = [1, 2]

        public init(listenPort: UInt16, userAgent: String, time: UInt64, kinds: [UInt8]? = nil, features: [String] = [])
        {
            self.listenPort = listenPort
            self.userAgent = userAgent
            self.time = time
            self.kinds = kinds
            self.features = features
        }

        /// The kinds the sender supports, with the legacy default.
        public var supportedKinds: [UInt8] { kinds ?? Self.legacyKinds }
    }

    /// A hello without the kinds-and-features extension.
    public static func hello(listenPort: UInt16, userAgent: String, time: UInt64) -> PeerMessage {
        .hello(Hello(listenPort: listenPort, userAgent: userAgent, time: time))
    }

    public enum Limits {
        public static let maxKinds = 255
        public static let maxFeatures = 32
        public static let maxFeatureBytes = 32
        public static let maxIDs = 1_000
        public static let maxObjects = 256
        public static let maxAddresses = 100
        public static let maxUserAgentBytes = 64
        public static let maxHostBytes = 255
        public static let maxTrees = 1_000
    }

    public var typeByte: UInt8 {
        switch self {
        case .hello: return 0x01
        case .ping: return 0x02
        case .pong: return 0x03
        case .objects: return 0x10
        case .ihave: return 0x11
        case .graft: return 0x12
        case .prune: return 0x13
        case .getObjects: return 0x14
        case .getAddr: return 0x20
        case .addr: return 0x21
        case .reconcile: return 0x30
        case .pruneTrees: return 0x81
        case .deliver: return 0x82
        case .delivered: return 0x83
        case .optional(let t): return t
        }
    }

    public var name: String {
        switch self {
        case .hello: return "hello"
        case .ping: return "ping"
        case .pong: return "pong"
        case .objects: return "objects"
        case .ihave: return "ihave"
        case .graft: return "graft"
        case .prune: return "prune"
        case .getObjects: return "getobjects"
        case .getAddr: return "getaddr"
        case .addr: return "addr"
        case .reconcile: return "reconcile"
        case .pruneTrees: return "prune-trees"
        case .deliver: return "deliver"
        case .delivered: return "delivered"
        case .optional: return "optional"
        }
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.writeByte(typeByte)
        switch self {
        case .hello(let h):
            w.writeByte(UInt8(h.listenPort >> 8))
            w.writeByte(UInt8(h.listenPort & 0xff))
            w.writeString(h.userAgent)
            w.writeVarint(h.time)
            if let kinds = h.kinds {
                w.writeLengthPrefixed(kinds)
                w.writeVarint(UInt64(h.features.count))
                for f in h.features { w.writeString(f) }
            }
        case .ping(let n), .pong(let n):
            w.writeVarint(n)
        case .objects(let envelopes):
            w.writeVarint(UInt64(envelopes.count))
            for e in envelopes { w.writeLengthPrefixed(e) }
        case .ihave(let ids), .graft(let ids):
            w.writeVarint(UInt64(ids.count))
            for id in ids { w.writeBytes(id.bytes) }
        case .getObjects(let ids):
            w.writeVarint(UInt64(ids.count))
            for id in ids { w.writeBytes(id.bytes) }
        case .prune, .getAddr, .optional:
            break
        case .addr(let addrs):
            w.writeVarint(UInt64(addrs.count))
            for a in addrs {
                w.writeString(a.host)
                w.writeByte(UInt8(a.port >> 8))
                w.writeByte(UInt8(a.port & 0xff))
                w.writeVarint(a.lastSeen)
            }
        case .reconcile(let m):
            m.encode(into: &w)
        case .pruneTrees(let trees):
            w.writeVarint(UInt64(trees.count))
            for t in trees { w.writeBytes(t) }
        case .deliver(let d):
            d.encode(into: &w)
        case .delivered(let a):
            a.encode(into: &w)
        }
        return w.bytes
    }

    /// Decodes one message plaintext.
    /// - Throws: `WireError.unknownMandatoryType` or `.malformedMessage`.
    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard let type = bytes.first else { throw .malformedMessage("empty message") }
        var r = ByteReader(bytes)
        do {
            _ = try r.readByte("type")
            switch type {
            case 0x01:
                let hi = try r.readByte("listen port")
                let lo = try r.readByte("listen port")
                let ua = try r.readString("user agent", maxBytes: Limits.maxUserAgentBytes)
                var hello = Hello(
                    listenPort: UInt16(hi) << 8 | UInt16(lo), userAgent: ua, time: try r.readVarint("time"))
                if !r.isAtEnd {
                    hello.kinds = try r.readLengthPrefixed("kinds", maxLength: Limits.maxKinds)
                    let n = try PeerMessage.count(&r, max: Limits.maxFeatures)
                    for _ in 0..<n {
                        hello.features.append(try r.readString("feature", maxBytes: Limits.maxFeatureBytes))
                    }
                }
                // Later releases may append further fields: what follows is ignored, not refused.
                self = .hello(hello)
                return
            case 0x02: self = .ping(try r.readVarint("nonce"))
            case 0x03: self = .pong(try r.readVarint("nonce"))
            case 0x10:
                let n = try PeerMessage.count(&r, max: Limits.maxObjects)
                var out: [[UInt8]] = []
                for _ in 0..<n { out.append(try r.readLengthPrefixed("envelope", maxLength: Envelope.maxEncodedBytes)) }
                self = .objects(out)
            case 0x11, 0x12:
                let n = try PeerMessage.count(&r, max: Limits.maxIDs)
                var ids: [ObjectID] = []
                for _ in 0..<n { ids.append(ObjectID(bytes: try r.readBytes(32, "object id"))) }
                self = type == 0x11 ? .ihave(ids) : .graft(ids)
            case 0x13: self = .prune
            case 0x14:
                let n = try PeerMessage.count(&r, max: Limits.maxIDs)
                var ids: [ShortID] = []
                for _ in 0..<n { ids.append(ShortID(bytes: try r.readBytes(ShortID.byteCount, "short id"))!) }
                self = .getObjects(ids)
            case 0x20: self = .getAddr
            case 0x21:
                let n = try PeerMessage.count(&r, max: Limits.maxAddresses)
                var addrs: [PeerAddress] = []
                for _ in 0..<n {
                    let host = try r.readString("host", maxBytes: Limits.maxHostBytes)
                    let hi = try r.readByte("port")
                    let lo = try r.readByte("port")
                    addrs.append(
                        PeerAddress(
                            host: host, port: UInt16(hi) << 8 | UInt16(lo), lastSeen: try r.readVarint("last seen")))
                }
                self = .addr(addrs)
            case 0x30: self = .reconcile(try ReconMessage(reading: &r))
            case 0x81:
                // Optional: a body we cannot read is ignored like an unknown optional type.
                var copy = r
                guard let trees = try? PeerMessage.authorKeys(&copy), copy.isAtEnd else {
                    self = .optional(type: type)
                    return
                }
                self = .pruneTrees(trees)
                return
            case 0x82: self = .deliver(try Delivery(reading: &r))
            case 0x83: self = .delivered(try DeliveryAck(reading: &r))
            case 0x80...0xff:
                self = .optional(type: type)
                return
            default:
                throw WireError.unknownMandatoryType(type)
            }
            try r.expectEnd(name)
        } catch let e as WireError {
            throw e
        } catch {
            throw .malformedMessage("\(error)")
        }
    }

    private static func authorKeys(_ r: inout ByteReader) throws -> [[UInt8]] {
        let n = try count(&r, max: Limits.maxTrees)
        var trees: [[UInt8]] = []
        for _ in 0..<n { trees.append(try r.readBytes(32, "author key")) }
        return trees
    }

    private static func count(_ r: inout ByteReader, max: Int) throws -> Int {
        let n = try r.readVarint("count")
        guard n <= UInt64(max) else { throw WireError.malformedMessage("count \(n) exceeds \(max)") }
        return Int(n)
    }
}
