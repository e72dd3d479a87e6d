import Foundation
import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

/// Checks `Specs/vectors/wire.json` three ways, so the spec cannot drift: the file equals what the
/// code produces from the fixed inputs; every derived value equals the derivation written in
/// `Specs/wire.md` (recomputed from the primitives by `SpecTranscript`, from the inputs in the file);
/// and the code accepts, decrypts and decodes every listed byte string.
///
/// To regenerate the file after a deliberate protocol change:
/// `SOUK_WRITE_WIRE_VECTORS=1 swift test --filter WireVectorTests`.
@Suite("Wire vectors (Specs/vectors/wire.json)")
struct WireVectorTests {
    static func load() throws -> WireVectorFile {
        if ProcessInfo.processInfo.environment["SOUK_WRITE_WIRE_VECTORS"] == "1" {
            try WireVectorData.encode(try WireVectorData.generate()).write(to: WireVectorData.fileURL, options: .atomic)
        }
        return try WireVectorData.decode(try Data(contentsOf: WireVectorData.fileURL))
    }

    @Test("the file is exactly what the reference implementation produces")
    func fileMatchesCode() throws {
        let file = try Self.load()
        let generated = try WireVectorData.generate()
        #expect(file.about == generated.about)
        #expect(file.handshake == generated.handshake)
        #expect(file.refusal == generated.refusal)
        #expect(file.frames == generated.frames)
        #expect(file.messages == generated.messages)
        #expect(file.invalidMessages == generated.invalidMessages)
        #expect(file.fingerprints == generated.fingerprints)
        // Byte for byte, so a hand edit of the file shows up too.
        let onDisk = try Data(contentsOf: WireVectorData.fileURL)
        #expect(onDisk == (try WireVectorData.encode(generated)))
    }

    @Test("the file covers every message type and every frame the spec promises")
    func coverage() throws {
        let file = try Self.load()
        let types = Set(file.messages.map(\.type))
        #expect(types == [0x01, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14, 0x20, 0x21, 0x30, 0x81, 0x82, 0x83])
        let frames = Set(file.frames.map(\.name))
        for name in ["initiator-hello", "responder-hello", "initiator-ping", "responder-pong", "ping-at-counter-0"] {
            #expect(frames.contains(name), "missing frame vector \(name)")
        }
        let results = Set(file.invalidMessages.map(\.result))
        #expect(results == ["optional", "unknown_mandatory_type", "malformed"])
        #expect(Set(file.messages.map(\.name)).count == file.messages.count)
        #expect(Set(file.invalidMessages.map(\.name)).count == file.invalidMessages.count)
    }

    /// Recomputes the transcript from the inputs in the file, following the spec's text.
    @Test("handshake: every intermediate value follows the derivation in Specs/wire.md")
    func handshakeDerivation() throws {
        let v = try Self.load().handshake
        let initiator = try SigningKey(seed: unhex(v.initiatorSeed))
        let responder = try SigningKey(seed: unhex(v.responderSeed))
        let ei = try X25519KeyPair(secretKey: unhex(v.initiatorEphemeralSecret))
        let er = try X25519KeyPair(secretKey: unhex(v.responderEphemeralSecret))
        let spec = SpecTranscript(network: v.network, initiator: initiator, responder: responder, ei: ei, er: er)

        #expect(v.network == "testnet")
        #expect(hex(initiator.publicKey) == v.initiatorPublicKey)
        #expect(hex(responder.publicKey) == v.responderPublicKey)
        #expect(hex(ei.publicKey) == v.initiatorEphemeralPublic)
        #expect(hex(er.publicKey) == v.responderEphemeralPublic)
        #expect(hex(spec.dh) == v.dh)
        #expect(hex(try er.sharedSecret(with: ei.publicKey)) == v.dh, "both sides compute the same X25519 output")
        #expect(hex(spec.h0) == v.h0)
        #expect(hex(spec.h1) == v.h1)
        #expect(hex(spec.handshakeKey) == v.handshakeKey)
        #expect(hex(spec.responderSignedMessage) == v.responderSignedMessage)
        #expect(hex(spec.responderSignature) == v.responderSignature)
        #expect(
            Ed25519.verify(
                signature: unhex(v.responderSignature), message: unhex(v.responderSignedMessage),
                publicKey: unhex(v.responderPublicKey)))
        #expect(hex(spec.h2) == v.h2)
        #expect(hex(spec.initiatorSignedMessage) == v.initiatorSignedMessage)
        #expect(hex(spec.initiatorSignature) == v.initiatorSignature)
        #expect(hex(spec.h3) == v.h3)
        #expect(hex(spec.keyI2R) == v.i2rKey)
        #expect(hex(spec.keyR2I) == v.r2iKey)
        #expect(v.i2rKey != v.r2iKey)
        #expect(hex(spec.msg1) == v.msg1)
        #expect(hex(spec.msg2) == v.msg2)
        #expect(hex(spec.msg3) == v.msg3)
        #expect(hex(SpecTranscript.frame(spec.msg1)) == v.msg1Frame)
        #expect(hex(SpecTranscript.frame(spec.msg2)) == v.msg2Frame)
        #expect(hex(SpecTranscript.frame(spec.msg3)) == v.msg3Frame)

        // Layout facts the spec states.
        let msg1 = unhex(v.msg1)
        #expect(Array(msg1[0..<4]) == Array("SOUK".utf8))
        #expect(msg1[4] == 0x01 && Int(msg1[5]) == "testnet".utf8.count && msg1.count == 6 + 7 + 32)
        #expect(unhex(v.msg2).count == 1 + 32 + 96 + 16 && unhex(v.msg2)[0] == 0x01)
        #expect(unhex(v.msg3).count == 96 + 16)
        // The responder's identity is encrypted: msg2 does not contain it in the clear.
        #expect(!hex(unhex(v.msg2)).contains(v.responderPublicKey))
        #expect(!hex(unhex(v.msg3)).contains(v.initiatorPublicKey))
    }

    @Test("handshake: the Handshake state machine produces and accepts the vector messages")
    func handshakeStateMachine() throws {
        let v = try Self.load().handshake
        var i = Handshake(
            role: .initiator, identity: try SigningKey(seed: unhex(v.initiatorSeed)), network: v.network,
            ephemeral: try X25519KeyPair(secretKey: unhex(v.initiatorEphemeralSecret)))
        var r = Handshake(
            role: .responder, identity: try SigningKey(seed: unhex(v.responderSeed)), network: v.network,
            ephemeral: try X25519KeyPair(secretKey: unhex(v.responderEphemeralSecret)))
        #expect(hex(i.start()) == v.msg1)
        #expect(try r.receive(unhex(v.msg1)).send.map(hex) == v.msg2)
        let step3 = try i.receive(unhex(v.msg2))
        #expect(step3.send.map(hex) == v.msg3)
        let step4 = try r.receive(unhex(v.msg3))
        let si = try #require(step3.session)
        let sr = try #require(step4.session)
        #expect(hex(si.transcriptHash) == v.h3)
        #expect(hex(sr.transcriptHash) == v.h3)
        #expect(hex(si.peer.publicKey) == v.responderPublicKey)
        #expect(hex(sr.peer.publicKey) == v.initiatorPublicKey)
    }

    @Test("handshake: two PeerLinks emit the vector frames, then their hello frames")
    func peerLinksEmitVectorFrames() throws {
        let file = try Self.load()
        let v = file.handshake
        let frames = Dictionary(uniqueKeysWithValues: file.frames.map { ($0.name, $0) })
        let t = Double(Fixture.time)
        var out = PeerLink(
            direction: .outbound, identity: try SigningKey(seed: unhex(v.initiatorSeed)), network: v.network,
            listenPort: 17447, userAgent: "souk/0.1.0", now: t,
            ephemeral: try X25519KeyPair(secretKey: unhex(v.initiatorEphemeralSecret)), kinds: [1, 2, 3],
            features: ["prune-trees"])
        var inb = PeerLink(
            direction: .inbound, identity: try SigningKey(seed: unhex(v.responderSeed)), network: v.network,
            listenPort: 17448, userAgent: "souk/0.1.0", now: t,
            ephemeral: try X25519KeyPair(secretKey: unhex(v.responderEphemeralSecret)), kinds: [1, 2, 3],
            features: ["prune-trees"])
        #expect(inb.start().isEmpty, "the inbound side waits for msg1")
        #expect(out.start() == [.send(unhex(v.msg1Frame))])
        #expect(inb.receive(frameBody: unhex(v.msg1), now: t) == [.send(unhex(v.msg2Frame))])
        let responderID = try #require(NodeID(publicKey: unhex(v.responderPublicKey)))
        let initiatorID = try #require(NodeID(publicKey: unhex(v.initiatorPublicKey)))
        #expect(
            out.receive(frameBody: unhex(v.msg2), now: t) == [
                .send(unhex(v.msg3Frame)), .established(responderID),
                .send(unhex(try #require(frames["initiator-hello"]).frame)),
            ])
        // The responder completes one second later, so its hello carries time + 1.
        #expect(
            inb.receive(frameBody: unhex(v.msg3), now: t + 1) == [
                .established(initiatorID), .send(unhex(try #require(frames["responder-hello"]).frame)),
            ])
        #expect(out.peer == responderID && inb.peer == initiatorID)
    }

    @Test("refusal: a main-network responder refuses a testnet msg1 with the vector bytes")
    func refusal() throws {
        let file = try Self.load()
        let v = file.refusal
        #expect(v.msg1 == file.handshake.msg1)
        let refusal = unhex(v.refusal)
        #expect(refusal[0] == 0x00 && Int(refusal[1]) == refusal.count - 2)
        #expect(String(decoding: refusal.dropFirst(2), as: UTF8.self) == v.reason)
        #expect(v.reason == "network mismatch: this node is on main")
        #expect(unhex(v.refusalFrame) == SpecTranscript.frame(refusal))

        var responder = Handshake(
            role: .responder, identity: Fixture.responder, network: v.responderNetwork,
            ephemeral: Fixture.responderEphemeral)
        #expect(
            throws: HandshakeError.networkMismatch(ours: "main", theirs: "testnet", refusal: refusal),
            performing: { try responder.receive(unhex(v.msg1)) })
        var initiator = Handshake(
            role: .initiator, identity: Fixture.initiator, network: v.initiatorNetwork,
            ephemeral: Fixture.initiatorEphemeral)
        _ = initiator.start()
        #expect(throws: HandshakeError.refusedByPeer(reason: v.reason), performing: { try initiator.receive(refusal) })
    }

    @Test("frames: sealed with the derived keys, nonce = 0^4 || LE64(counter), AD = the length bytes")
    func frames() throws {
        let file = try Self.load()
        let keys = ["i2r": unhex(file.handshake.i2rKey), "r2i": unhex(file.handshake.r2iKey)]
        for f in file.frames {
            let key = try #require(keys[f.direction])
            let frame = unhex(f.frame)
            let plaintext = unhex(f.plaintext)
            #expect(unhex(f.nonce) == SpecTranscript.nonce(f.counter), "\(f.name)")
            #expect(Array(frame[0..<4]) == SpecTranscript.be32(plaintext.count + 16), "\(f.name)")
            #expect(
                frame == SpecTranscript.sealedFrame(key: key, counter: f.counter, plaintext: plaintext), "\(f.name)")
            let opened = try ChaChaPoly.open(
                Array(frame.dropFirst(4)), key: key, nonce: unhex(f.nonce), ad: Array(frame[0..<4]))
            #expect(opened == plaintext, "\(f.name)")
            // And the plaintext is a valid message.
            _ = try PeerMessage(decoding: plaintext)
        }

        // A Session opens the link's frames in order: hello then ping (i2r), hello then pong (r2i).
        var run = try runHandshake()
        for name in ["initiator-hello", "initiator-ping"] {
            let f = try #require(file.frames.first { $0.name == name })
            #expect(try run.responder.open(Array(unhex(f.frame).dropFirst(4))) == unhex(f.plaintext))
        }
        for name in ["responder-hello", "responder-pong"] {
            let f = try #require(file.frames.first { $0.name == name })
            #expect(try run.initiator.open(Array(unhex(f.frame).dropFirst(4))) == unhex(f.plaintext))
        }
        var fresh = try runHandshake()
        let ping0 = try #require(file.frames.first { $0.name == "ping-at-counter-0" })
        #expect(try PeerMessage(decoding: fresh.responder.open(Array(unhex(ping0.frame).dropFirst(4)))) == .ping(1))
    }

    @Test("messages: every vector decodes to the listed message and re-encodes to the same bytes")
    func messages() throws {
        let file = try Self.load()
        let expected = Dictionary(uniqueKeysWithValues: WireVectorData.messages.map { ($0.name, $0.message) })
        #expect(file.messages.count == expected.count)
        for m in file.messages {
            let bytes = unhex(m.hex)
            let message = try PeerMessage(decoding: bytes)
            #expect(message == expected[m.name], "\(m.name)")
            #expect(message.encoded() == bytes, "\(m.name)")
            #expect(bytes.first == m.type && message.typeByte == m.type, "\(m.name)")
        }
        // Spot checks of the layout described in the spec.
        let byName = Dictionary(uniqueKeysWithValues: file.messages.map { ($0.name, $0.hex) })
        #expect(byName["ping"] == "022a")
        #expect(byName["pong"] == "03ac02")
        #expect(byName["prune"] == "13")
        #expect(byName["getaddr"] == "20")
        #expect(byName["reconcile-done"] == "3001ffffffffffffffffff010000")
        #expect(byName["reconcile-initial-empty"] == "3001ffffffffffffffffff01000200")
        #expect(byName["hello"]?.hasPrefix("014427" + "0a" + hex(Array("souk/0.1.0".utf8))) == true)
    }

    @Test("invalid messages: refused or ignored as listed")
    func invalidMessages() throws {
        let file = try Self.load()
        for v in file.invalidMessages {
            let bytes = unhex(v.hex)
            switch v.result {
            case "optional":
                #expect(try PeerMessage(decoding: bytes) == .optional(type: bytes[0]), "\(v.name)")
            case "unknown_mandatory_type":
                #expect(throws: WireError.unknownMandatoryType(bytes[0]), "\(v.name)") {
                    try PeerMessage(decoding: bytes)
                }
            case "malformed":
                let error = #expect(throws: WireError.self, "\(v.name)") { try PeerMessage(decoding: bytes) }
                guard case .malformedMessage = error else {
                    Issue.record("\(v.name): expected malformedMessage, got \(String(describing: error))")
                    continue
                }
            default:
                Issue.record("unknown result \(v.result) in \(v.name)")
            }
        }
    }

    @Test("local discovery: announcements decode as the file says; every invalid one is refused")
    func lanAnnouncements() throws {
        let file = try Self.load()
        #expect(file.lanAnnouncements.filter(\.valid).count == 2)
        #expect(file.lanAnnouncements.filter { !$0.valid }.count >= 7)
        for v in file.lanAnnouncements {
            let decoded = LANAnnouncement(datagram: unhex(v.hex))
            if v.valid {
                let a = try #require(decoded, "\(v.name)")
                #expect(
                    a.network == v.network && Int(a.p2pPort) == v.port && hex(a.instance) == v.instance, "\(v.name)")
                #expect(hex(a.encoded) == v.hex, "\(v.name) re-encodes to the same bytes")
            } else {
                #expect(decoded == nil, "\(v.name) must be refused")
            }
        }
        // Byte layout, from the spec's table: magic, version, length, name, port (big-endian), instance.
        let main = try #require(file.lanAnnouncements.first { $0.name == "main" })
        #expect(
            main.hex == hex(Array("souk-lan".utf8)) + "01" + "04" + hex(Array("main".utf8)) + "1cfd"
                + "0123456789abcdef")
        #expect(LANAnnouncement(datagram: [UInt8](repeating: 0, count: 4_000)) == nil)
        #expect(LANAnnouncement(datagram: []) == nil)
    }

    @Test("fingerprints: BLAKE2b-128(sum of ids mod 2^256, little-endian || varint count)")
    func fingerprints() throws {
        let file = try Self.load()
        #expect(file.fingerprints.count == 3)
        for v in file.fingerprints {
            let ids = v.ids.map(unhex)
            let preimage = WireVectorData.fingerprintPreimage(ids)
            #expect(hex(preimage) == v.preimage, "\(v.name)")
            #expect(hex(Blake2b.hash(preimage, outputLength: 16)) == v.fingerprint, "\(v.name)")
            // The timestamps do not enter the fingerprint, nor does the order.
            let items = ids.enumerated().map {
                ReconItem(timestamp: UInt64($0.offset) * 7, id: ObjectID(bytes: $0.element))
            }
            #expect(hex(Reconciler.fingerprint(items.reversed()[...])) == v.fingerprint, "\(v.name)")
        }
        let carry = try #require(file.fingerprints.first { $0.name == "carry" })
        // ff..ff + 01 00..00 wraps to 0 (the carry runs off the top), then + 20 21 .. 3f.
        #expect(carry.preimage == hex(Fixture.run(from: 0x20)) + "03")
    }
}
