import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

@Suite("PeerMessage")
struct PeerMessageTests {
    static func ids(_ n: Int) -> [ObjectID] { (0..<n).map { Fixture.objectID(UInt8(truncatingIfNeeded: $0)) } }

    static func varint(_ v: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.writeVarint(v)
        return w.bytes
    }

    static let samples: [PeerMessage] = [
        .hello(listenPort: 0, userAgent: "", time: 0),
        .hello(listenPort: 65535, userAgent: String(repeating: "é", count: 32), time: .max),
        .ping(0), .ping(.max), .pong(7),
        .objects([]), .objects([Fixture.envelope.bytes, [0x01, 0x02, 0x00]]),
        .ihave([]), .ihave(ids(3)), .ihave(ids(PeerMessage.Limits.maxIDs)),
        .graft(ids(2)), .prune,
        .getObjects(ids(5).map(ShortID.init)), .getObjects(ids(PeerMessage.Limits.maxIDs).map(ShortID.init)),
        .getAddr,
        .addr([]),
        .addr(
            (0..<PeerMessage.Limits.maxAddresses).map {
                PeerAddress(host: "10.0.0.\($0)", port: UInt16($0), lastSeen: UInt64($0))
            }),
        .addr([PeerAddress(host: String(repeating: "h", count: 255), port: 1, lastSeen: 1)]),
        .reconcile(WireVectorData.reconcileExample),
        .reconcile(ReconMessage(ranges: [ReconRange(upper: .infinity, mode: .skip)])),
        .reconcile(
            ReconMessage(ranges: [
                ReconRange(upper: ReconBound(timestamp: 5, prefix: Fixture.run(from: 1)), mode: .idList([])),
                ReconRange(upper: .infinity, mode: .idList(ids(32).map(ShortID.init))),
            ])),
    ]

    @Test("every message type round-trips", arguments: samples)
    func roundTrip(_ message: PeerMessage) throws {
        let bytes = message.encoded()
        #expect(bytes.first == message.typeByte)
        #expect(try PeerMessage(decoding: bytes) == message)
    }

    @Test("type bytes and names are as the spec lists them")
    func typeBytes() {
        let table: [(PeerMessage, UInt8, String)] = [
            (.hello(listenPort: 1, userAgent: "", time: 0), 0x01, "hello"), (.ping(0), 0x02, "ping"),
            (.pong(0), 0x03, "pong"), (.objects([]), 0x10, "objects"), (.ihave([]), 0x11, "ihave"),
            (.graft([]), 0x12, "graft"), (.prune, 0x13, "prune"), (.getObjects([]), 0x14, "getobjects"),
            (.getAddr, 0x20, "getaddr"), (.addr([]), 0x21, "addr"),
            (.reconcile(ReconMessage(ranges: [ReconRange(upper: .infinity, mode: .skip)])), 0x30, "reconcile"),
        ]
        for (m, type, name) in table {
            #expect(m.typeByte == type && m.name == name)
        }
    }

    @Test("every unknown type below 0x80 is refused as an unknown mandatory type")
    func unknownMandatory() {
        let known: Set<UInt8> = [0x01, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14, 0x20, 0x21, 0x30]
        for type in UInt8(0)..<0x80 where !known.contains(type) {
            #expect(throws: WireError.unknownMandatoryType(type)) { try PeerMessage(decoding: [type, 0x00]) }
        }
    }

    @Test("every type from 0x80 up but the ones this release knows is optional, whatever its body")
    func optionalTypes() throws {
        // 0x81 prune-trees ignores a body it cannot read; 0x82 deliver and 0x83 delivered, sent only to
        // peers advertising the feature, are malformed when they do not decode.
        for type in UInt8(0x80)...0xff where type != 0x82 && type != 0x83 {
            #expect(try PeerMessage(decoding: [type]) == .optional(type: type))
            #expect(try PeerMessage(decoding: [type, 0xff, 0xff, 0xff]) == .optional(type: type))
        }
    }

    @Test("prune-trees (0x81) carries 32-byte author keys; an unreadable body is ignored, not fatal")
    func pruneTrees() throws {
        let key = [UInt8](repeating: 0xab, count: 32)
        #expect(try PeerMessage(decoding: [0x81, 0x01] + key) == .pruneTrees([key]))
        #expect(try PeerMessage(decoding: [0x81, 0x02] + key) == .optional(type: 0x81), "truncated")
        #expect(try PeerMessage(decoding: [0x81, 0x01] + key + [0x00]) == .optional(type: 0x81), "trailing byte")
        #expect(PeerMessage.pruneTrees([key]).encoded() == [0x81, 0x01] + key)
        #expect(try PeerMessage(decoding: PeerMessage.pruneTrees([]).encoded()) == .pruneTrees([]))
        #expect(PeerMessage.pruneTrees([]).name == "prune-trees")
    }

    /// A count alone, with no items behind it: the refusal must come from the count check.
    @Test("over-limit counts are refused from the count alone, before reading items")
    func overLimitCounts() {
        let cases: [(UInt8, Int)] = [
            (0x10, PeerMessage.Limits.maxObjects), (0x11, PeerMessage.Limits.maxIDs), (0x12, PeerMessage.Limits.maxIDs),
            (0x14, PeerMessage.Limits.maxIDs), (0x21, PeerMessage.Limits.maxAddresses),
        ]
        for (type, limit) in cases {
            for count in [UInt64(limit + 1), UInt64(Int.max), .max] {
                #expect(throws: WireError.malformedMessage("count \(count) exceeds \(limit)")) {
                    try PeerMessage(decoding: [type] + Self.varint(count))
                }
            }
            // At the limit, the same header is merely truncated.
            let error = #expect(throws: WireError.self) {
                try PeerMessage(decoding: [type] + Self.varint(UInt64(limit)))
            }
            #expect(error.map { "\($0)".contains("truncated") } == true)
        }
        // Reconcile: range count and id-list count.
        #expect(throws: WireError.malformedMessage("range count 257 outside 1...256")) {
            try PeerMessage(decoding: [0x30] + Self.varint(257))
        }
        let idListHeader: [UInt8] = [0x30, 0x01] + Self.varint(.max) + [0x00, 0x02] + Self.varint(1001)
        #expect(throws: WireError.malformedMessage("id list of 1001 exceeds 1000")) {
            try PeerMessage(decoding: idListHeader)
        }
        // The largest legal messages still decode.
        #expect(throws: Never.self) { try PeerMessage(decoding: PeerMessage.ihave(Self.ids(1000)).encoded()) }
    }

    @Test("trailing bytes are refused for every type but hello", arguments: samples)
    func trailingBytes(_ message: PeerMessage) {
        if case .hello = message { return }  // extensible: see helloExtension()
        let error = #expect(throws: WireError.self) { try PeerMessage(decoding: message.encoded() + [0x00]) }
        guard case .malformedMessage(let text) = error else {
            Issue.record("expected malformedMessage, got \(String(describing: error))")
            return
        }
        #expect(text.contains("trailing"))
    }

    @Test("hello: the kinds-and-features extension round-trips, later fields are ignored, a broken one is refused")
    func helloExtension() throws {
        let full = PeerMessage.Hello(
            listenPort: 7, userAgent: "x", time: 9, kinds: [1, 2, 3, 200], features: ["a", "b"])
        let bytes = PeerMessage.hello(full).encoded()
        #expect(try PeerMessage(decoding: bytes) == .hello(full))
        // A later release may append more fields: read what is known, ignore the rest.
        #expect(try PeerMessage(decoding: bytes + [0x05, 0xff, 0x00]) == .hello(full))
        // Without the extension: the kinds of the first release, no features.
        let legacy = PeerMessage.hello(listenPort: 7, userAgent: "x", time: 9)
        guard case .hello(let h) = try PeerMessage(decoding: legacy.encoded()) else {
            Issue.record("not a hello")
            return
        }
        #expect(h.kinds == nil && h.supportedKinds == [1, 2] && h.features.isEmpty)
        // A started but broken extension is malformed: truncated kinds, too many features, a long feature.
        let head = Array(legacy.encoded())
        for broken in [
            head + [0x03, 0x01], head + [0x00, 0x21], head + [0x00, 0x01, 0x21] + [UInt8](repeating: 0x61, count: 33),
        ] {
            #expect(throws: WireError.self) { try PeerMessage(decoding: broken) }
        }
    }

    @Test("truncated messages are refused", arguments: samples)
    func truncated(_ message: PeerMessage) {
        let bytes = message.encoded()
        guard bytes.count > 1 else { return }
        for cut in [1, bytes.count / 2, bytes.count - 1] where cut < bytes.count {
            #expect(throws: WireError.self) { try PeerMessage(decoding: Array(bytes.prefix(cut))) }
        }
    }

    @Test("field rules: empty message, user agent cap, UTF-8, varint form, host cap, envelope cap")
    func fieldRules() {
        #expect(throws: WireError.malformedMessage("empty message")) { try PeerMessage(decoding: []) }
        let ua65 = PeerMessage.hello(listenPort: 1, userAgent: String(repeating: "a", count: 65), time: 0).encoded()
        #expect(throws: WireError.self) { try PeerMessage(decoding: ua65) }
        let badUTF8: [UInt8] = [0x01, 0x00, 0x01, 0x02, 0xc3, 0x28, 0x00]
        #expect(throws: WireError.self) { try PeerMessage(decoding: badUTF8) }
        #expect(throws: WireError.self) { try PeerMessage(decoding: [0x02, 0x80, 0x00]) }  // non-minimal varint
        #expect(throws: WireError.self) {
            try PeerMessage(decoding: [0x02] + [UInt8](repeating: 0xff, count: 10) + [0x01])
        }
        let host256 = PeerMessage.addr([PeerAddress(host: String(repeating: "h", count: 256), port: 1)]).encoded()
        #expect(throws: WireError.self) { try PeerMessage(decoding: host256) }
        // An envelope length prefix over the envelope cap, with nothing behind it.
        let bigEnvelope: [UInt8] = [0x10, 0x01] + Self.varint(UInt64(Envelope.maxEncodedBytes + 1))
        let error = #expect(throws: WireError.self) { try PeerMessage(decoding: bigEnvelope) }
        #expect(error.map { "\($0)".contains("limit") } == true)
    }

    @Test("reconcile structure: bounds strictly increasing, last at infinity, prefixes at most 32 bytes")
    func reconcileStructure() {
        func encode(_ ranges: [ReconRange]) -> [UInt8] { PeerMessage.reconcile(ReconMessage(ranges: ranges)).encoded() }
        let notIncreasing = encode([
            ReconRange(upper: ReconBound(timestamp: 9, prefix: []), mode: .skip),
            ReconRange(upper: ReconBound(timestamp: 9, prefix: [0x00]), mode: .skip),  // equal: 9 || 00.. == 9 || ""
            ReconRange(upper: .infinity, mode: .skip),
        ])
        #expect(throws: WireError.malformedMessage("range bounds are not increasing")) {
            try PeerMessage(decoding: notIncreasing)
        }
        let firstAtZero = encode([ReconRange(upper: .zero, mode: .skip), ReconRange(upper: .infinity, mode: .skip)])
        #expect(throws: WireError.malformedMessage("range bounds are not increasing")) {
            try PeerMessage(decoding: firstAtZero)
        }
        let notInfinite = encode([ReconRange(upper: ReconBound(timestamp: 9, prefix: []), mode: .skip)])
        #expect(throws: WireError.malformedMessage("the last range must end at infinity")) {
            try PeerMessage(decoding: notInfinite)
        }
        let longPrefix = encode([
            ReconRange(upper: ReconBound(timestamp: 9, prefix: [UInt8](repeating: 1, count: 33)), mode: .skip),
            ReconRange(upper: .infinity, mode: .skip),
        ])
        #expect(throws: WireError.self) { try PeerMessage(decoding: longPrefix) }
        #expect(throws: WireError.malformedMessage("unknown range mode 3")) {
            try PeerMessage(decoding: [0x30, 0x01] + Self.varint(.max) + [0x00, 0x03])
        }
        let shortFingerprint: [UInt8] =
            [0x30, 0x01] + Self.varint(.max) + [0x00, 0x01] + [UInt8](repeating: 0, count: 15)
        #expect(throws: WireError.self) { try PeerMessage(decoding: shortFingerprint) }
    }
}
