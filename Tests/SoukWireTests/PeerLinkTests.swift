import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

@Suite("PeerLink")
struct PeerLinkTests {
    static let initiatorID = Fixture.nodeID(Fixture.initiator)
    static let responderID = Fixture.nodeID(Fixture.responder)

    static func connected(_ settings: PeerLink.Settings = PeerLink.Settings()) -> LinkPair {
        var pair = LinkPair(settings: settings)
        pair.connect()
        return pair
    }

    static func closes(_ actions: [PeerLink.Action]) -> (reason: String, misbehaving: Bool)? {
        for case .close(let reason, let misbehaving) in actions { return (reason, misbehaving) }
        return nil
    }

    @Test("two links back to back: established, then ready on both sides with each other's hello")
    func backToBack() {
        let pair = Self.connected()
        #expect(pair.outboundEvents.first == .established(Self.responderID))
        #expect(pair.inboundEvents.first == .established(Self.initiatorID))
        // Each side's hello advertises its port, user agent, every kind it knows and its features.
        for (events, port, agent) in [
            (pair.outboundEvents, UInt16(17448), "souk-test/in"), (pair.inboundEvents, UInt16(17447), "souk-test/out"),
        ] {
            #expect(events.count == 2)
            guard case .ready(let hello) = events.last else {
                Issue.record("no ready event")
                continue
            }
            #expect(hello.listenPort == port && hello.userAgent == agent)
            #expect(hello.kinds == ObjectRegistry.kinds.map { $0.rawValue })
            #expect(hello.supportedKinds == ObjectRegistry.kinds.map(\.rawValue))
            #expect(hello.features == PeerLink.features)
        }
        #expect(pair.outbound.isOpen && pair.inbound.isOpen)
        #expect(pair.outbound.peer == Self.responderID && pair.inbound.peer == Self.initiatorID)
        #expect(pair.outbound.direction == .outbound && pair.inbound.direction == .inbound)
    }

    @Test("after ready, messages are delivered to the node")
    func deliversMessages() {
        var pair = Self.connected()
        let ihave = PeerMessage.ihave([Fixture.objectID(1), Fixture.objectID(2)])
        pair.send(ihave, fromOutbound: true)
        pair.send(.getAddr, fromOutbound: false)
        pair.send(.objects([Fixture.envelope.bytes]), fromOutbound: true)
        #expect(pair.inboundEvents.suffix(2) == [.deliver(ihave), .deliver(.objects([Fixture.envelope.bytes]))])
        #expect(pair.outboundEvents.last == .deliver(.getAddr))
    }

    @Test("nothing is sent before the handshake completes; inbound links do not start")
    func nothingBeforeHandshake() {
        var link = PeerLink(
            direction: .outbound, identity: Fixture.initiator, network: Fixture.network, listenPort: 1,
            userAgent: "t", now: 0)
        #expect(link.send(.ping(1)).isEmpty)
        var inbound = PeerLink(
            direction: .inbound, identity: Fixture.responder, network: Fixture.network, listenPort: 1,
            userAgent: "t", now: 0)
        #expect(inbound.start().isEmpty)
        #expect(inbound.send(.ping(1)).isEmpty)
    }

    /// Runs the handshake with the inbound link, but keeps the initiator's session in the test's hands
    /// (a `Handshake` twin of the outbound side with the same keys), so the test chooses the first message.
    static func inboundAwaitingHello() throws -> (link: PeerLink, session: Session) {
        let t = Double(Fixture.time)
        var inbound = PeerLink(
            direction: .inbound, identity: Fixture.responder, network: Fixture.network, listenPort: 2,
            userAgent: "in", now: t, ephemeral: Fixture.responderEphemeral)
        var twin = Handshake(
            role: .initiator, identity: Fixture.initiator, network: Fixture.network,
            ephemeral: Fixture.initiatorEphemeral)
        let msg2Actions = inbound.receive(frameBody: twin.start(), now: t)
        guard case .send(let msg2Frame) = msg2Actions.first else {
            Issue.record("no msg2")
            throw HandshakeError.unexpectedMessage
        }
        let step = try twin.receive(frameBody(msg2Frame))
        let actions = inbound.receive(frameBody: try #require(step.send), now: t)
        #expect(actions.first == .established(Self.initiatorID))
        return (inbound, try #require(step.session))
    }

    @Test(
        "the first message must be hello: anything else closes the link as misbehaving",
        arguments: [PeerMessage.ping(1), .getAddr, .optional(type: 0x80), .ihave([])])
    func firstMessageNotHello(_ first: PeerMessage) throws {
        var (link, session) = try Self.inboundAwaitingHello()
        let actions = link.receive(frameBody: frameBody(session.seal(first.encoded())), now: Double(Fixture.time))
        #expect(actions == [.close(reason: "first message was \(first.name), expected hello", misbehaving: true)])
        #expect(link.isClosed)
        // A closed link ignores everything.
        #expect(link.receive(frameBody: frameBody(session.seal(PeerMessage.ping(2).encoded())), now: 0).isEmpty)
        #expect(link.tick(now: 1e12).isEmpty)
        #expect(link.send(.ping(3)).isEmpty)
    }

    @Test("hello first is accepted from a hand-built session too")
    func helloFirstAccepted() throws {
        var (link, session) = try Self.inboundAwaitingHello()
        let hello = PeerMessage.hello(listenPort: 9, userAgent: "hand", time: 5)
        let actions = link.receive(frameBody: frameBody(session.seal(hello.encoded())), now: Double(Fixture.time))
        // A hello without the kinds extension comes from an older release: kinds 1 and 2, no features.
        #expect(actions == [.ready(PeerMessage.Hello(listenPort: 9, userAgent: "hand", time: 5))])
        guard case .ready(let h) = actions.first else { return }
        #expect(h.kinds == nil && h.supportedKinds == [1, 2] && h.features.isEmpty)
        #expect(link.isOpen)
    }

    @Test("a second hello closes the link as misbehaving")
    func secondHello() {
        var pair = Self.connected()
        pair.send(.hello(listenPort: 1, userAgent: "again", time: 0), fromOutbound: true)
        #expect(pair.inboundEvents.last == .close(reason: "second hello", misbehaving: true))
        #expect(pair.inbound.isClosed)
    }

    @Test("handshake timeout: a silent peer is dropped after the timeout, without a ban")
    func handshakeTimeout() {
        var settings = PeerLink.Settings()
        settings.handshakeTimeout = 10
        var link = PeerLink(
            direction: .inbound, identity: Fixture.responder, network: Fixture.network, listenPort: 1,
            userAgent: "t", now: 1000, settings: settings)
        #expect(link.tick(now: 1005).isEmpty)
        #expect(link.tick(now: 1010).isEmpty)
        #expect(link.tick(now: 1010.5) == [.close(reason: "handshake timed out", misbehaving: false)])
        #expect(link.isClosed)
        #expect(link.tick(now: 1011).isEmpty, "closed once")
    }

    @Test("handshake timeout counts from the start even if msg1 arrived")
    func handshakeTimeoutAfterFirstMessage() {
        var settings = PeerLink.Settings()
        settings.handshakeTimeout = 10
        var outbound = PeerLink(
            direction: .outbound, identity: Fixture.initiator, network: Fixture.network, listenPort: 1,
            userAgent: "t", now: 0, settings: settings)
        _ = outbound.start()
        // The responder answered nothing (msg2 never comes).
        #expect(Self.closes(outbound.tick(now: 10.1))?.misbehaving == false)
    }

    @Test("idle timeout: no frame for longer than the idle timeout closes the link, without a ban")
    func idleTimeout() {
        var settings = PeerLink.Settings()
        settings.idleTimeout = 90
        settings.pingInterval = 1_000
        var pair = Self.connected(settings)
        let t = pair.now
        // Traffic at t + 60 (a ping one way, the pong back) resets both clocks.
        pair.now = t + 60
        pair.send(.ping(5), fromOutbound: true)
        #expect(pair.inbound.tick(now: t + 120).isEmpty)
        #expect(pair.outbound.tick(now: t + 150).isEmpty)
        let closed = pair.outbound.tick(now: t + 150.5)
        #expect(closed == [.close(reason: "idle for 90 s", misbehaving: false)])
        #expect(pair.outbound.isClosed)
        #expect(Self.closes(pair.inbound.tick(now: t + 150.5))?.misbehaving == false)
    }

    @Test("keep-alive: a ping every interval, answered by a pong carrying the same nonce")
    func pingPong() throws {
        var settings = PeerLink.Settings()
        settings.pingInterval = 30
        var pair = Self.connected(settings)
        let t = pair.now
        #expect(pair.outbound.tick(now: t + 29).isEmpty)
        let ping = pair.outbound.tick(now: t + 30)
        guard ping.count == 1, case .send(let pingFrame) = ping[0] else {
            Issue.record("expected one ping frame, got \(ping)")
            return
        }
        // The inbound side answers with exactly one frame and delivers nothing to the node.
        let reply = pair.inbound.receive(frameBody: frameBody(pingFrame), now: t + 30)
        guard reply.count == 1, case .send(let pong) = reply[0] else {
            Issue.record("expected one pong frame, got \(reply)")
            return
        }
        // The pong arrives 250 ms later: it matches the pending ping, so the round trip is measured.
        #expect(pair.outbound.receive(frameBody: frameBody(pong), now: t + 30.25).isEmpty)
        #expect(abs((pair.outbound.rttSeconds ?? -1) - 0.25) < 1e-9)
        // No new ping until the next interval.
        #expect(pair.outbound.tick(now: t + 59).isEmpty)
        #expect(pair.outbound.tick(now: t + 60).count == 1)
    }

    @Test("a pong with an unknown nonce is ignored")
    func unmatchedPong() {
        var pair = Self.connected()
        pair.send(.pong(12345), fromOutbound: false)
        #expect(pair.outbound.isOpen)
        #expect(pair.outbound.rttSeconds == nil)
    }

    @Test("an explicit ping is answered with a pong of the same nonce")
    func explicitPing() throws {
        var pair = Self.connected()
        let frame = pair.outbound.send(.ping(77))
        guard case .send(let bytes) = frame.first else {
            Issue.record("no frame")
            return
        }
        let reply = pair.inbound.receive(frameBody: frameBody(bytes), now: pair.now)
        guard case .send(let pong) = reply.first else {
            Issue.record("no pong")
            return
        }
        // Decrypt the pong with a twin of the outbound session (same fixed keys, counter 1 after the hello).
        var twin = try runHandshake()
        // Step the twin past counter 0 (the hello the inbound link sent first).
        _ = try twin.initiator.open(frameBody(twin.responder.seal([0x02, 0x00])))
        #expect(try PeerMessage(decoding: twin.initiator.open(frameBody(pong))) == .pong(77))
    }

    @Test("message rate limit: one message over the burst closes the link as misbehaving")
    func messageRateLimit() {
        var settings = PeerLink.Settings()
        settings.messageRate = 1
        settings.messageBurst = 4
        var pair = Self.connected(settings)
        // The hello took one token; three more messages fit the burst.
        for n in 0..<3 { pair.send(.ping(UInt64(n)), fromOutbound: true) }
        #expect(pair.inbound.isOpen)
        pair.send(.ping(99), fromOutbound: true)
        #expect(pair.inboundEvents.last == .close(reason: "rate limit exceeded", misbehaving: true))
    }

    @Test("message rate limit: tokens refill at the configured rate")
    func messageRateRefills() {
        var settings = PeerLink.Settings()
        settings.messageRate = 1
        settings.messageBurst = 2
        var pair = Self.connected(settings)
        pair.send(.ping(1), fromOutbound: true)
        pair.now += 1
        pair.send(.ping(2), fromOutbound: true)
        pair.now += 1
        pair.send(.ping(3), fromOutbound: true)
        #expect(pair.inbound.isOpen)
    }

    @Test("byte rate limit: a frame over the byte budget closes the link as misbehaving")
    func byteRateLimit() {
        var settings = PeerLink.Settings()
        settings.byteRate = 10
        settings.byteBurst = 1_000
        var pair = Self.connected(settings)
        pair.send(.objects([[UInt8](repeating: 7, count: 200)]), fromOutbound: true)
        #expect(pair.inbound.isOpen)
        pair.send(.objects([[UInt8](repeating: 7, count: 900)]), fromOutbound: true)
        #expect(pair.inboundEvents.last == .close(reason: "rate limit exceeded", misbehaving: true))
    }

    @Test("announcement rate limit: too many announced ids close the link as misbehaving")
    func announceRateLimit() {
        var settings = PeerLink.Settings()
        settings.announceRate = 1
        settings.announceBurst = 5
        var pair = Self.connected(settings)
        pair.send(.ihave([Fixture.objectID(1), Fixture.objectID(2)]), fromOutbound: true)
        #expect(pair.inbound.isOpen)
        pair.send(.ihave((3..<7).map { Fixture.objectID($0) }), fromOutbound: true)
        #expect(pair.inboundEvents.last == .close(reason: "announcement rate limit exceeded", misbehaving: true))
    }

    @Test("an unknown mandatory type closes the link as misbehaving; an optional one is ignored")
    func unknownTypes() {
        var pair = Self.connected()
        let before = pair.inboundEvents.count
        pair.send(.optional(type: 0x9a), fromOutbound: true)
        #expect(pair.inboundEvents.count == before && pair.inbound.isOpen)
        pair.send(.optional(type: 0x05), fromOutbound: true)  // encodes as the single byte 0x05
        #expect(pair.inboundEvents.last == .close(reason: "unknown mandatory message type 0x5", misbehaving: true))
    }

    @Test("a tampered or replayed frame closes the link as misbehaving")
    func badFrames() {
        var pair = Self.connected()
        guard case .send(let frame) = pair.outbound.send(.ping(1)).first else {
            Issue.record("no frame")
            return
        }
        var tampered = frameBody(frame)
        tampered[tampered.count - 1] ^= 1
        var copy = pair.inbound
        #expect(Self.closes(copy.receive(frameBody: tampered, now: pair.now))?.misbehaving == true)
        // Delivered once it is fine; replayed it is not.
        _ = pair.inbound.receive(frameBody: frameBody(frame), now: pair.now)
        #expect(pair.inbound.isOpen)
        let replay = pair.inbound.receive(frameBody: frameBody(frame), now: pair.now)
        #expect(replay == [.close(reason: WireError.badTag.description, misbehaving: true)])
    }

    @Test("a malformed message closes the link as misbehaving")
    func malformedMessage() throws {
        var (link, session) = try Self.inboundAwaitingHello()
        _ = link.receive(
            frameBody: frameBody(session.seal(PeerMessage.hello(listenPort: 1, userAgent: "", time: 0).encoded())),
            now: 0)
        let actions = link.receive(frameBody: frameBody(session.seal([0x02, 0x80, 0x00])), now: 0)
        #expect(Self.closes(actions)?.misbehaving == true)
    }

    @Test("network mismatch: the responder sends a refusal frame; neither side treats it as misbehaviour")
    func networkMismatch() {
        var pair = LinkPair(outboundNetwork: "testnet", inboundNetwork: "main")
        pair.connect()
        #expect(
            pair.inboundEvents == [
                .close(reason: "peer is on network \"testnet\", this node is on \"main\"; refused", misbehaving: false)
            ])
        #expect(
            pair.outboundEvents == [
                .close(reason: "peer refused the handshake: network mismatch: this node is on main", misbehaving: false)
            ])
        #expect(pair.outbound.isClosed && pair.inbound.isClosed)
    }

    @Test("an unexpected peer identity closes without a ban; a forged handshake closes with one")
    func handshakeFailures() {
        var pair = LinkPair(expectedPeer: Fixture.nodeID(SigningKey.generate()))
        pair.connect()
        #expect(Self.closes(pair.outboundEvents)?.misbehaving == false)

        var garbage = PeerLink(
            direction: .inbound, identity: Fixture.responder, network: Fixture.network, listenPort: 1,
            userAgent: "t", now: 0)
        #expect(
            garbage.receive(frameBody: Array("GET / HTTP/1.1\r\n".utf8), now: 0) == [
                .close(reason: "malformed handshake: not a Souk handshake", misbehaving: true)
            ])
    }
}
