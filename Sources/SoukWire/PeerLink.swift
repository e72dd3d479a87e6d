public import SoukCore
public import SoukCrypto

/// One peer link as a value-type state machine: handshake, then `hello`, then encrypted messages,
/// with keep-alive, an idle timeout and per-link rate limits. The I/O shell feeds it frame bodies
/// (from `FrameCodec`) and clock ticks, and performs the returned actions.
public struct PeerLink: Sendable {
    public enum Direction: String, Sendable { case inbound, outbound }

    public enum Action: Sendable, Equatable {
        /// Write these bytes (complete frames) to the socket.
        case send([UInt8])
        /// The peer proved this identity.
        case established(NodeID)
        /// The peer's `hello` arrived: the link is ready for gossip.
        case ready(PeerMessage.Hello)
        /// A message for the node to act on.
        case deliver(PeerMessage)
        /// Close the link; `misbehaving` means the peer broke a rule and should be banned.
        case close(reason: String, misbehaving: Bool)
    }

    /// Timers and limits; tests shorten them.
    public struct Settings: Sendable {
        public var handshakeTimeout: Double = 10
        public var pingInterval: Double = 30
        public var idleTimeout: Double = 90
        /// Messages per second (and burst) a peer may send.
        public var messageRate: Double = 5_000
        public var messageBurst: Double = 20_000
        /// Bytes per second (and burst) a peer may send.
        public var byteRate: Double = 64 * 1024 * 1024
        public var byteBurst: Double = 128 * 1024 * 1024
        /// Announced ids (ihave) per second (and burst).
        public var announceRate: Double = 20_000
        public var announceBurst: Double = 100_000
        public init() {}
    }

    private enum State {
        case handshaking(Handshake)
        case awaitingHello(Session)
        case open(Session)
        case closed
    }

    public let direction: Direction
    public private(set) var peer: NodeID?
    public private(set) var rttSeconds: Double?
    private var state: State
    private let settings: Settings
    private let listenPort: UInt16
    private let userAgent: String
    private let kinds: [UInt8]
    private let features: [String]
    /// The source of ping nonces (injected, so tests replay identically).
    private var random: SplitMix64
    private let startedAt: Double
    private var lastReceived: Double
    private var lastPingSent: Double
    private var pendingPing: (nonce: UInt64, sentAt: Double)?
    private var messages: TokenBucket
    private var bytes: TokenBucket
    private var announcements: TokenBucket

    public init(
        direction: Direction, identity: SigningKey, network: String, expectedPeer: NodeID? = nil,
        listenPort: UInt16, userAgent: String, now: Double, settings: Settings = Settings(),
        ephemeral: X25519KeyPair = .generate(), kinds: [UInt8] = ObjectRegistry.kinds.map { $0.rawValue },
        features: [String] = PeerLink.features, random: SplitMix64 = .system()
    ) {
        self.direction = direction
        self.kinds = kinds
        self.features = features
        self.random = random
        self.settings = settings
        self.listenPort = listenPort
        self.userAgent = userAgent
        self.startedAt = now
        self.lastReceived = now
        self.lastPingSent = now
        self.messages = TokenBucket(rate: settings.messageRate, burst: settings.messageBurst, now: now)
        self.bytes = TokenBucket(rate: settings.byteRate, burst: settings.byteBurst, now: now)
        self.announcements = TokenBucket(rate: settings.announceRate, burst: settings.announceBurst, now: now)
        self.state = .handshaking(
            Handshake(
                role: direction == .outbound ? .initiator : .responder, identity: identity, network: network,
                expectedPeer: expectedPeer, ephemeral: ephemeral))
    }

    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The outbound side's first frame; nothing for inbound links.
    public mutating func start() -> [Action] {
        guard direction == .outbound, case .handshaking(var hs) = state else { return [] }
        let msg1 = hs.start()
        state = .handshaking(hs)
        return [.send(FrameCodec.lengthBytes(msg1.count) + msg1)]
    }

    /// The optional features this release supports, advertised in `hello`.
    public static let features = ["prune-trees", "deliver"]

    /// Handles one frame body from the codec.
    public mutating func receive(frameBody body: [UInt8], now: Double) -> [Action] {
        lastReceived = now
        switch state {
        case .closed:
            return []
        case .handshaking(var hs):
            do {
                let step = try hs.receive(body)
                var actions: [Action] = []
                if let m = step.send { actions.append(.send(FrameCodec.lengthBytes(m.count) + m)) }
                if var session = step.session {
                    peer = session.peer
                    actions.append(.established(session.peer))
                    let hello = PeerMessage.hello(
                        PeerMessage.Hello(
                            listenPort: listenPort, userAgent: userAgent, time: UInt64(now), kinds: kinds,
                            features: features))
                    actions.append(.send(session.seal(hello.encoded())))
                    state = .awaitingHello(session)
                } else {
                    state = .handshaking(hs)
                }
                return actions
            } catch {
                var actions: [Action] = []
                if let refusal = error.refusal {
                    actions.append(.send(FrameCodec.lengthBytes(refusal.count) + refusal))
                }
                let benign: Bool
                switch error {
                case .networkMismatch, .refusedByPeer, .refusedByUs, .unexpectedPeer, .selfConnection: benign = true
                default: benign = false
                }
                return actions + close(error.description, misbehaving: !benign)
            }
        case .awaitingHello(var session), .open(var session):
            let plaintext: [UInt8]
            do {
                plaintext = try session.open(body)
            } catch {
                return close(error.description, misbehaving: true)
            }
            // Keep the advanced receive counter.
            if case .open = state { state = .open(session) } else { state = .awaitingHello(session) }
            guard messages.take(1, now: now), bytes.take(Double(body.count + 4), now: now) else {
                return close("rate limit exceeded", misbehaving: true)
            }
            let message: PeerMessage
            do {
                message = try PeerMessage(decoding: plaintext)
            } catch {
                return close(error.description, misbehaving: true)
            }
            return handle(message, session: session, now: now)
        }
    }

    private mutating func handle(_ message: PeerMessage, session: Session, now: Double) -> [Action] {
        if case .awaitingHello = state {
            guard case .hello(let hello) = message else {
                return close("first message was \(message.name), expected hello", misbehaving: true)
            }
            state = .open(session)
            return [.ready(hello)]
        }
        switch message {
        case .hello:
            return close("second hello", misbehaving: true)
        case .ping(let nonce):
            return send(.pong(nonce))
        case .pong(let nonce):
            if let p = pendingPing, p.nonce == nonce {
                rttSeconds = now - p.sentAt
                pendingPing = nil
            }
            return []
        case .ihave(let ids):
            guard announcements.take(Double(ids.count), now: now) else {
                return close("announcement rate limit exceeded", misbehaving: true)
            }
            return [.deliver(message)]
        case .optional:
            return []
        default:
            return [.deliver(message)]
        }
    }

    /// Encrypts a message for the peer. Nothing is sent before the handshake is complete.
    public mutating func send(_ message: PeerMessage) -> [Action] {
        switch state {
        case .awaitingHello(var session):
            let frame = session.seal(message.encoded())
            state = .awaitingHello(session)
            return [.send(frame)]
        case .open(var session):
            let frame = session.seal(message.encoded())
            state = .open(session)
            return [.send(frame)]
        default:
            return []
        }
    }

    /// Clock tick: handshake timeout, keep-alive ping, idle timeout.
    public mutating func tick(now: Double) -> [Action] {
        switch state {
        case .closed:
            return []
        case .handshaking:
            if now - startedAt > settings.handshakeTimeout { return close("handshake timed out", misbehaving: false) }
            return []
        case .awaitingHello, .open:
            if now - lastReceived > settings.idleTimeout {
                return close("idle for \(Int(now - lastReceived)) s", misbehaving: false)
            }
            if now - lastPingSent >= settings.pingInterval, case .open = state {
                lastPingSent = now
                let nonce = max(1, random.next())
                pendingPing = (nonce, now)
                return send(.ping(nonce))
            }
            return []
        }
    }

    /// Marks the link closed (for example when the socket closed).
    public mutating func close(_ reason: String, misbehaving: Bool) -> [Action] {
        if case .closed = state { return [] }
        state = .closed
        return [.close(reason: reason, misbehaving: misbehaving)]
    }
}
