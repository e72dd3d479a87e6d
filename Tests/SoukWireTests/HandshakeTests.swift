import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

@Suite("Handshake")
struct HandshakeTests {
    /// Seals on one side, opens on the other, in both directions.
    static func expectLinked(_ run: inout HandshakeRun) throws {
        for n in 0..<3 {
            let up = Array("up \(n)".utf8)
            #expect(try run.responder.open(frameBody(run.initiator.seal(up))) == up)
            let down = Array("down \(n)".utf8)
            #expect(try run.initiator.open(frameBody(run.responder.seal(down))) == down)
        }
    }

    @Test("fixed keys: both sides agree on the peer, the transcript and the session keys")
    func succeedsWithFixedKeys() throws {
        var run = try runHandshake()
        #expect(run.initiator.peer == Fixture.nodeID(Fixture.responder))
        #expect(run.responder.peer == Fixture.nodeID(Fixture.initiator))
        #expect(run.initiator.transcriptHash == run.responder.transcriptHash)
        try Self.expectLinked(&run)
    }

    @Test("fresh keys, either node initiating: the sessions work both ways")
    func succeedsBothWays() throws {
        let a = SigningKey.generate()
        let b = SigningKey.generate()
        var ab = try runHandshake(initiator: a, responder: b, ei: .generate(), er: .generate())
        try Self.expectLinked(&ab)
        var ba = try runHandshake(initiator: b, responder: a, ei: .generate(), er: .generate())
        try Self.expectLinked(&ba)
        #expect(ab.initiator.peer == Fixture.nodeID(b) && ba.initiator.peer == Fixture.nodeID(a))
        // Forward secrecy: fresh ephemeral keys give fresh transcripts (and keys) for the same pair.
        #expect(ab.initiator.transcriptHash != ba.initiator.transcriptHash)
    }

    @Test("directions use different keys: a frame reflected back to its sender fails")
    func reflectionFails() throws {
        var run = try runHandshake()
        var twin = try runHandshake()
        let frame = run.initiator.seal([0x02, 0x01])
        // `twin.initiator` has the same keys and a fresh receive counter, so only the key differs.
        #expect(throws: WireError.badTag) { try twin.initiator.open(frameBody(frame)) }
        #expect(try twin.responder.open(frameBody(frame)) == [0x02, 0x01])
    }

    @Test("network mismatch: the responder refuses with a reason, the initiator reports refusedByPeer")
    func networkMismatch() throws {
        var initiator = Handshake(role: .initiator, identity: Fixture.initiator, network: "testnet")
        var responder = Handshake(role: .responder, identity: Fixture.responder, network: "main")
        let msg1 = initiator.start()
        let error = #expect(throws: HandshakeError.self) { try responder.receive(msg1) }
        guard case .networkMismatch(let ours, let theirs, let refusal) = error else {
            Issue.record("expected networkMismatch, got \(String(describing: error))")
            return
        }
        #expect(ours == "main" && theirs == "testnet")
        #expect(error?.refusal == refusal)
        #expect(error?.description == "peer is on network \"testnet\", this node is on \"main\"; refused")
        let reason = "network mismatch: this node is on main"
        #expect(refusal == [0x00, UInt8(reason.utf8.count)] + Array(reason.utf8))
        #expect(throws: HandshakeError.refusedByPeer(reason: reason)) { try initiator.receive(refusal) }
    }

    @Test("an unsupported protocol version is refused with a refusal message")
    func unsupportedVersion() throws {
        var msg1 = SpecTranscript().msg1
        msg1[4] = 0x02
        var responder = Handshake(role: .responder, identity: Fixture.responder, network: Fixture.network)
        let refusal = Handshake.refusal("version")
        #expect(refusal == [0x00, 0x07] + Array("version".utf8))
        #expect(throws: HandshakeError.refusedByUs(reason: "unsupported protocol version 2", refusal: refusal)) {
            try responder.receive(msg1)
        }
    }

    @Test("a refusal reason is cut to 200 bytes; a truncated refusal still refuses")
    func refusalLimits() throws {
        let long = Handshake.refusal(String(repeating: "x", count: 300))
        #expect(long.count == 202 && long[1] == 200)
        var initiator = Handshake(role: .initiator, identity: Fixture.initiator, network: Fixture.network)
        _ = initiator.start()
        #expect(throws: HandshakeError.refusedByPeer(reason: "?")) { try initiator.receive([0x00, 0x09, 0x41]) }
    }

    /// The initiator after msg1, ready for msg2 (a value, so each test case gets a fresh copy).
    static func initiatorAwaitingReply(expectedPeer: NodeID? = nil, identity: SigningKey = Fixture.initiator)
        -> Handshake
    {
        var i = Handshake(
            role: .initiator, identity: identity, network: Fixture.network, expectedPeer: expectedPeer,
            ephemeral: Fixture.initiatorEphemeral)
        _ = i.start()
        return i
    }

    /// The responder after msg1, ready for msg3.
    static func responderAwaitingFinal() throws -> Handshake {
        var r = Handshake(
            role: .responder, identity: Fixture.responder, network: Fixture.network,
            ephemeral: Fixture.responderEphemeral)
        _ = try r.receive(SpecTranscript().msg1)
        return r
    }

    @Test("tampered msg2: any flipped bit after the type byte fails authentication")
    func tamperedMessage2() throws {
        let msg2 = SpecTranscript().msg2
        #expect(msg2.count == 145)
        let awaiting = Self.initiatorAwaitingReply()
        for index in 1..<msg2.count {
            var bad = msg2
            bad[index] ^= 1 << UInt8(index % 8)
            var i = awaiting
            #expect(throws: HandshakeError.authenticationFailed, "bit flipped in byte \(index)") { try i.receive(bad) }
        }
        // The untampered message still works on the same state.
        var i = awaiting
        #expect(try i.receive(msg2).session != nil)
    }

    @Test("tampered msg3: any flipped bit fails authentication")
    func tamperedMessage3() throws {
        let msg3 = SpecTranscript().msg3
        #expect(msg3.count == 112)
        let awaiting = try Self.responderAwaitingFinal()
        for index in 0..<msg3.count {
            var bad = msg3
            bad[index] ^= 1 << UInt8(index % 8)
            var r = awaiting
            #expect(throws: HandshakeError.authenticationFailed, "bit flipped in byte \(index)") { try r.receive(bad) }
        }
        var r = awaiting
        #expect(try r.receive(msg3).session?.peer == Fixture.nodeID(Fixture.initiator))
    }

    @Test("a correctly encrypted msg2 whose signature covers another transcript fails authentication")
    func responderSignatureOverWrongTranscript() throws {
        let spec = SpecTranscript()
        // Sign the transcript of another network: the AEAD is right, the signature is not.
        let other = SpecTranscript(network: "main")
        let sealed = try ChaChaPoly.seal(
            Fixture.responder.publicKey + other.responderSignature, key: spec.handshakeKey,
            nonce: SpecTranscript.nonce(0), ad: spec.h1)
        var i = Self.initiatorAwaitingReply()
        #expect(throws: HandshakeError.authenticationFailed) {
            try i.receive([0x01] + Fixture.responderEphemeral.publicKey + sealed)
        }
    }

    @Test("a correctly encrypted msg3 signed by a key other than the one it names fails authentication")
    func initiatorSignatureByWrongKey() throws {
        let spec = SpecTranscript()
        let mallory = SigningKey.generate()
        let sig = mallory.sign(spec.initiatorSignedMessage)  // claims the initiator's key
        let msg3 = try ChaChaPoly.seal(
            Fixture.initiator.publicKey + sig, key: spec.handshakeKey, nonce: SpecTranscript.nonce(1), ad: spec.h2)
        var r = try Self.responderAwaitingFinal()
        #expect(throws: HandshakeError.authenticationFailed) { try r.receive(msg3) }
    }

    @Test("expectedPeer: the initiator refuses a responder that proves another identity")
    func expectedPeerMismatch() throws {
        let expected = Fixture.nodeID(SigningKey.generate())
        var i = Self.initiatorAwaitingReply(expectedPeer: expected)
        #expect(throws: HandshakeError.unexpectedPeer(expected: expected, actual: Fixture.nodeID(Fixture.responder))) {
            try i.receive(SpecTranscript().msg2)
        }
        var ok = Self.initiatorAwaitingReply(expectedPeer: Fixture.nodeID(Fixture.responder))
        #expect(try ok.receive(SpecTranscript().msg2).session?.peer == Fixture.nodeID(Fixture.responder))
    }

    @Test("self connection: detected by the initiator, and by the responder if a peer replays its identity")
    func selfConnection() throws {
        let me = Fixture.responder
        var i = Self.initiatorAwaitingReply(identity: me)
        #expect(throws: HandshakeError.selfConnection) { try i.receive(SpecTranscript().msg2) }
        // msg3 naming and signed by the responder's own key.
        let spec = SpecTranscript(initiator: me)
        var r = try Self.responderAwaitingFinal()
        #expect(throws: HandshakeError.selfConnection) { try r.receive(spec.msg3) }
        #expect(handshakeError(of: { _ = try runHandshake(initiator: me, responder: me) }) == .selfConnection)
    }

    @Test("messages out of order are refused, and a failed handshake stays failed")
    func unexpectedOrder() throws {
        // The initiator has not started: nothing may arrive yet.
        var notStarted = Handshake(role: .initiator, identity: Fixture.initiator, network: Fixture.network)
        #expect(throws: HandshakeError.unexpectedMessage) { try notStarted.receive(SpecTranscript().msg2) }
        // The responder gets msg3 first.
        var r = Handshake(role: .responder, identity: Fixture.responder, network: Fixture.network)
        #expect(throws: HandshakeError.malformed("not a Souk handshake")) { try r.receive(SpecTranscript().msg3) }
        #expect(throws: HandshakeError.unexpectedMessage, "a failed handshake refuses everything") {
            try r.receive(SpecTranscript().msg1)
        }
        // The responder gets msg1 again instead of msg3.
        var r2 = try Self.responderAwaitingFinal()
        #expect(throws: HandshakeError.malformed("bad final message length")) { try r2.receive(SpecTranscript().msg1) }
        // The initiator gets its own msg1 reflected.
        var i = Self.initiatorAwaitingReply()
        #expect(throws: HandshakeError.self) { try i.receive(SpecTranscript().msg1) }
        // After completion nothing more is a handshake message.
        var done = Self.initiatorAwaitingReply()
        _ = try done.receive(SpecTranscript().msg2)
        #expect(throws: HandshakeError.unexpectedMessage) { try done.receive(SpecTranscript().msg2) }
    }

    @Test("oversize, truncated and malformed messages are refused")
    func malformed() throws {
        var r = Handshake(role: .responder, identity: Fixture.responder, network: Fixture.network)
        #expect(throws: HandshakeError.malformed("handshake message too large")) {
            try r.receive(SpecTranscript().msg1 + [UInt8](repeating: 0, count: 256))
        }
        var r1 = Handshake(role: .responder, identity: Fixture.responder, network: Fixture.network)
        #expect(throws: HandshakeError.malformed("bad hello length")) {
            try r1.receive(Array(SpecTranscript().msg1.dropLast()))
        }
        var r2 = Handshake(role: .responder, identity: Fixture.responder, network: Fixture.network)
        #expect(throws: HandshakeError.malformed("not a Souk handshake")) { try r2.receive(Array("SOUK".utf8)) }
        var r3 = Handshake(role: .responder, identity: Fixture.responder, network: Fixture.network)
        var lowOrder = SpecTranscript().msg1
        lowOrder.replaceSubrange((lowOrder.count - 32)..., with: [UInt8](repeating: 0, count: 32))
        #expect(throws: HandshakeError.malformed("low-order ephemeral key")) { try r3.receive(lowOrder) }

        var i = Self.initiatorAwaitingReply()
        #expect(throws: HandshakeError.malformed("bad reply length")) {
            try i.receive(Array(SpecTranscript().msg2.dropLast()))
        }
        var i2 = Self.initiatorAwaitingReply()
        #expect(throws: HandshakeError.malformed("empty reply")) { try i2.receive([]) }
        var i3 = Self.initiatorAwaitingReply()
        var wrongKind = SpecTranscript().msg2
        wrongKind[0] = 0x02
        #expect(throws: HandshakeError.malformed("bad reply length")) { try i3.receive(wrongKind) }
        var r4 = try Self.responderAwaitingFinal()
        #expect(throws: HandshakeError.malformed("bad final message length")) {
            try r4.receive(SpecTranscript().msg3 + [0])
        }
    }
}

/// The handshake error a throwing closure produced, if any.
private func handshakeError(of body: () throws -> Void) -> HandshakeError? {
    do {
        try body()
        return nil
    } catch let e as HandshakeError {
        return e
    } catch {
        return nil
    }
}
