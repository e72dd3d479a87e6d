import NIOCore
import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

/// Fixed inputs shared by the vectors and the tests: every key is a run of consecutive bytes, so a
/// reader of `Specs/vectors/wire.json` can type them in by hand.
enum Fixture {
    static func run(from start: UInt8, count: Int = 32) -> [UInt8] { (0..<count).map { start &+ UInt8($0) } }

    static let network = "testnet"
    static let initiatorSeed = run(from: 0x00)
    static let responderSeed = run(from: 0x20)
    static let initiatorEphemeralSecret = run(from: 0x40)
    static let responderEphemeralSecret = run(from: 0x60)
    /// 2026-01-01T00:00:00Z.
    static let time: UInt64 = 1_767_225_600

    static var initiator: SigningKey { try! SigningKey(seed: initiatorSeed) }
    static var responder: SigningKey { try! SigningKey(seed: responderSeed) }
    static var initiatorEphemeral: X25519KeyPair { try! X25519KeyPair(secretKey: initiatorEphemeralSecret) }
    static var responderEphemeral: X25519KeyPair { try! X25519KeyPair(secretKey: responderEphemeralSecret) }

    static func nodeID(_ key: SigningKey) -> NodeID { NodeID(publicKey: key.publicKey)! }

    static func objectID(_ start: UInt8) -> ObjectID { ObjectID(bytes: run(from: start)) }

    /// A small signed object (a retraction) to carry in `objects`.
    static var envelope: Envelope {
        let payload = ListingRetraction(salt: run(from: 0xa0, count: 16), retractedAt: time).encoded()
        return Envelope(kind: .listingRetraction, payload: payload, signingKey: initiator)
    }
}

/// The handshake computed step by step from the primitives, exactly as `Specs/wire.md` describes
/// it, independently of `Handshake.swift`. The tests compare the two.
struct SpecTranscript {
    let network: String
    let initiator: SigningKey
    let responder: SigningKey
    let ei: X25519KeyPair
    let er: X25519KeyPair

    init(
        network: String = Fixture.network, initiator: SigningKey = Fixture.initiator,
        responder: SigningKey = Fixture.responder, ei: X25519KeyPair = Fixture.initiatorEphemeral,
        er: X25519KeyPair = Fixture.responderEphemeral
    ) {
        self.network = network
        self.initiator = initiator
        self.responder = responder
        self.ei = ei
        self.er = er
    }

    static func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Keyed BLAKE2b-256: key = the X25519 output, message = label || transcript hash.
    static func prf(_ dh: [UInt8], _ label: String, _ h: [UInt8]) -> [UInt8] {
        Blake2b.hash(utf8(label) + h, outputLength: 32, key: dh)
    }

    /// Four zero bytes, then the counter as 8 little-endian bytes.
    static func nonce(_ counter: UInt64) -> [UInt8] {
        [0, 0, 0, 0] + (0..<8).map { UInt8((counter >> (8 * UInt64($0))) & 0xff) }
    }

    static func be32(_ n: Int) -> [UInt8] {
        [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
    }

    /// `u32 BE length || body`.
    static func frame(_ body: [UInt8]) -> [UInt8] { be32(body.count) + body }

    /// An encrypted frame: AD is the four length bytes, the length counts the 16-byte tag.
    static func sealedFrame(key: [UInt8], counter: UInt64, plaintext: [UInt8]) -> [UInt8] {
        let length = be32(plaintext.count + 16)
        return length + (try! ChaChaPoly.seal(plaintext, key: key, nonce: nonce(counter), ad: length))
    }

    var dh: [UInt8] { try! ei.sharedSecret(with: er.publicKey) }
    var h0: [UInt8] { Blake2b.hash256(Self.utf8("souk/hs/v1") + Self.utf8(network)) }
    var h1: [UInt8] { Blake2b.hash256(h0 + ei.publicKey + er.publicKey) }
    var handshakeKey: [UInt8] { Self.prf(dh, "souk/hs/v1/key", h1) }
    var responderSignedMessage: [UInt8] { Self.utf8("souk/hs/v1/responder") + h1 + responder.publicKey }
    var responderSignature: [UInt8] { responder.sign(responderSignedMessage) }
    var h2: [UInt8] { Blake2b.hash256(h1 + responder.publicKey) }
    var initiatorSignedMessage: [UInt8] { Self.utf8("souk/hs/v1/initiator") + h2 + initiator.publicKey }
    var initiatorSignature: [UInt8] { initiator.sign(initiatorSignedMessage) }
    var h3: [UInt8] { Blake2b.hash256(h2 + initiator.publicKey) }
    var keyI2R: [UInt8] { Self.prf(dh, "souk/hs/v1/i2r", h3) }
    var keyR2I: [UInt8] { Self.prf(dh, "souk/hs/v1/r2i", h3) }

    var msg1: [UInt8] {
        let net = Self.utf8(network)
        return Self.utf8("SOUK") + [0x01, UInt8(net.count)] + net + ei.publicKey
    }

    var msg2: [UInt8] {
        let sealed = try! ChaChaPoly.seal(
            responder.publicKey + responderSignature, key: handshakeKey, nonce: Self.nonce(0), ad: h1)
        return [0x01] + er.publicKey + sealed
    }

    var msg3: [UInt8] {
        try! ChaChaPoly.seal(initiator.publicKey + initiatorSignature, key: handshakeKey, nonce: Self.nonce(1), ad: h2)
    }
}

/// A completed handshake between two `Handshake` values.
struct HandshakeRun {
    var msg1: [UInt8]
    var msg2: [UInt8]
    var msg3: [UInt8]
    var initiator: Session
    var responder: Session
}

func runHandshake(
    network: String = Fixture.network, initiator: SigningKey = Fixture.initiator,
    responder: SigningKey = Fixture.responder, ei: X25519KeyPair = Fixture.initiatorEphemeral,
    er: X25519KeyPair = Fixture.responderEphemeral
) throws -> HandshakeRun {
    var i = Handshake(role: .initiator, identity: initiator, network: network, ephemeral: ei)
    var r = Handshake(role: .responder, identity: responder, network: network, ephemeral: er)
    let msg1 = i.start()
    let step2 = try r.receive(msg1)
    let msg2 = try #require(step2.send)
    #expect(step2.session == nil)
    let step3 = try i.receive(msg2)
    let msg3 = try #require(step3.send)
    let initiatorSession = try #require(step3.session)
    let step4 = try r.receive(msg3)
    #expect(step4.send == nil)
    let responderSession = try #require(step4.session)
    return HandshakeRun(msg1: msg1, msg2: msg2, msg3: msg3, initiator: initiatorSession, responder: responderSession)
}

/// The body of a complete frame (drops the 4 length bytes, after checking them).
func frameBody(_ frame: [UInt8]) -> [UInt8] {
    precondition(frame.count >= 4)
    let n = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
    precondition(n == frame.count - 4, "one send action is one frame")
    return Array(frame.dropFirst(4))
}

func hex(_ b: [UInt8]) -> String { Hex.encode(b) }

func unhex(_ s: String) -> [UInt8] {
    guard let b = Hex.decode(s) else { preconditionFailure("bad hex in a test: \(s)") }
    return b
}

/// Two `PeerLink`s wired back to back: every `.send` of one is fed to the other.
struct LinkPair {
    var outbound: PeerLink
    var inbound: PeerLink
    /// Everything other than `.send`, per side, in order.
    var outboundEvents: [PeerLink.Action] = []
    var inboundEvents: [PeerLink.Action] = []
    var now: Double

    init(
        settings: PeerLink.Settings = PeerLink.Settings(), now: Double = Double(Fixture.time),
        outboundNetwork: String = Fixture.network, inboundNetwork: String = Fixture.network,
        expectedPeer: NodeID? = nil, random: SplitMix64 = SplitMix64(seed: 1)
    ) {
        self.now = now
        outbound = PeerLink(
            direction: .outbound, identity: Fixture.initiator, network: outboundNetwork, expectedPeer: expectedPeer,
            listenPort: 17447, userAgent: "souk-test/out", now: now, settings: settings,
            ephemeral: Fixture.initiatorEphemeral, random: random)
        inbound = PeerLink(
            direction: .inbound, identity: Fixture.responder, network: inboundNetwork, listenPort: 17448,
            userAgent: "souk-test/in", now: now, settings: settings, ephemeral: Fixture.responderEphemeral)
    }

    /// Starts the outbound side and shuttles frames until both sides are quiet.
    mutating func connect() {
        let first = outbound.start()
        deliver(first, toInbound: true)
    }

    /// Feeds `actions` (produced by one side) to the other side, recursively.
    mutating func deliver(_ actions: [PeerLink.Action], toInbound: Bool) {
        var queue: [(actions: [PeerLink.Action], toInbound: Bool)] = [(actions, toInbound)]
        while !queue.isEmpty {
            let (batch, dest) = queue.removeFirst()
            for action in batch {
                guard case .send(let frame) = action else {
                    if dest { outboundEvents.append(action) } else { inboundEvents.append(action) }
                    continue
                }
                let produced =
                    dest
                    ? inbound.receive(frameBody: frameBody(frame), now: now)
                    : outbound.receive(frameBody: frameBody(frame), now: now)
                queue.append((produced, !dest))
            }
        }
    }

    /// Sends `message` from one side and returns what the other side did (its non-send actions
    /// and replies are recorded and relayed too).
    mutating func send(_ message: PeerMessage, fromOutbound: Bool) {
        let actions = fromOutbound ? outbound.send(message) : inbound.send(message)
        deliver(actions, toInbound: fromOutbound)
    }
}
