public import SoukCore
public import SoukCrypto

/// The peer handshake (see `Specs/wire.md`, "Handshake"): three messages over X25519 ephemeral
/// keys, each side proving its Ed25519 node identity by signing the transcript, in the style of
/// SIGMA-I. It gives mutual authentication, forward secrecy (only ephemeral keys make the session
/// keys), hides the identities from passive observers, and binds the network name so nodes of
/// different networks refuse each other.
///
/// ```
/// msg1  I → R   "SOUK" | version 0x01 | u8 len | network name | e_i (32)
/// msg2  R → I   0x01 | e_r (32) | seal(k, nonce 0, ad h1)[ s_r (32) | sig_r (64) ]
///         or    0x00 | u8 len | reason           (refusal, then close)
/// msg3  I → R   seal(k, nonce 1, ad h2)[ s_i (32) | sig_i (64) ]
/// ```
///
/// A value-type state machine: feed it the payload of each handshake frame, send what it returns.
public struct Handshake: Sendable {
    public enum Role: Sendable { case initiator, responder }

    /// What to do after an event.
    public struct Step: Sendable {
        /// A handshake message to send in a frame, if any.
        public var send: [UInt8]?
        /// Set once the handshake is complete.
        public var session: Session?
    }

    public static let protocolVersion: UInt8 = 1
    public static let magic: [UInt8] = Array("SOUK".utf8)
    /// No handshake message is larger than this.
    public static let maxMessageBytes = 256

    private enum State {
        case start
        case initiatorSentHello(h0: [UInt8], msg1: [UInt8])
        case responderAwaitingHello
        case responderSentReply(h2: [UInt8], key: [UInt8], dh: [UInt8])
        case done
        case failed
    }

    public let role: Role
    public let network: String
    private let identity: SigningKey
    private let ephemeral: X25519KeyPair
    private let expectedPeer: NodeID?
    private var state: State

    /// - Parameters:
    ///   - expectedPeer: when dialling a known node id, the handshake fails unless the responder proves it.
    ///   - ephemeral: injectable for test vectors; fresh by default.
    public init(
        role: Role, identity: SigningKey, network: String, expectedPeer: NodeID? = nil,
        ephemeral: X25519KeyPair = .generate()
    ) {
        self.role = role
        self.identity = identity
        self.network = network
        self.expectedPeer = expectedPeer
        self.ephemeral = ephemeral
        self.state = role == .responder ? .responderAwaitingHello : .start
    }

    /// The initiator's first message.
    public mutating func start() -> [UInt8] {
        precondition(role == .initiator, "only the initiator starts")
        guard case .start = state else { preconditionFailure("start() called twice") }
        let net = Array(network.utf8)
        let msg1 = Handshake.magic + [Handshake.protocolVersion, UInt8(net.count)] + net + ephemeral.publicKey
        state = .initiatorSentHello(h0: Handshake.h0(network: network), msg1: msg1)
        return msg1
    }

    /// Handles one received handshake message.
    /// - Throws: `HandshakeError`; the link must then be closed (after sending `refusal` if set).
    public mutating func receive(_ message: [UInt8]) throws(HandshakeError) -> Step {
        let current = state
        state = .failed
        guard message.count <= Handshake.maxMessageBytes else { throw .malformed("handshake message too large") }
        switch current {
        case .responderAwaitingHello:
            return try respondToHello(message)
        case .initiatorSentHello(let h0, _):
            return try finishAsInitiator(message, h0: h0)
        case .responderSentReply(let h2, let key, let dh):
            return try finishAsResponder(message, h2: h2, key: key, dh: dh)
        case .start, .done, .failed:
            throw .unexpectedMessage
        }
    }

    private mutating func respondToHello(_ m: [UInt8]) throws(HandshakeError) -> Step {
        guard m.count >= 6, Array(m[0..<4]) == Handshake.magic else { throw .malformed("not a Souk handshake") }
        guard m[4] == Handshake.protocolVersion else {
            throw .refusedByUs(reason: "unsupported protocol version \(m[4])", refusal: Handshake.refusal("version"))
        }
        let netLen = Int(m[5])
        guard m.count == 6 + netLen + 32 else { throw .malformed("bad hello length") }
        let theirNetwork = String(decoding: m[6..<(6 + netLen)], as: UTF8.self)
        guard theirNetwork == network else {
            throw .networkMismatch(
                ours: network, theirs: theirNetwork,
                refusal: Handshake.refusal("network mismatch: this node is on \(network)"))
        }
        let ei = Array(m[(6 + netLen)...])
        let er = ephemeral.publicKey
        let dh: [UInt8]
        do { dh = try ephemeral.sharedSecret(with: ei) } catch { throw .malformed("low-order ephemeral key") }
        let h1 = Blake2b.hash256(Handshake.h0(network: network) + ei + er)
        let key = Handshake.prf(dh, "souk/hs/v1/key", h1)
        let sig = identity.sign(Array("souk/hs/v1/responder".utf8) + h1 + identity.publicKey)
        let sealed = Handshake.seal(identity.publicKey + sig, key: key, counter: 0, ad: h1)
        let h2 = Blake2b.hash256(h1 + identity.publicKey)
        state = .responderSentReply(h2: h2, key: key, dh: dh)
        return Step(send: [0x01] + er + sealed, session: nil)
    }

    private mutating func finishAsInitiator(_ m: [UInt8], h0: [UInt8]) throws(HandshakeError) -> Step {
        guard let kind = m.first else { throw .malformed("empty reply") }
        if kind == 0x00 {
            let len = m.count > 1 ? Int(m[1]) : 0
            let reason = m.count >= 2 + len ? String(decoding: m[2..<(2 + len)], as: UTF8.self) : "?"
            throw .refusedByPeer(reason: reason)
        }
        guard kind == 0x01, m.count == 1 + 32 + 96 + ChaChaPoly.tagBytes else { throw .malformed("bad reply length") }
        let er = Array(m[1..<33])
        let dh: [UInt8]
        do { dh = try ephemeral.sharedSecret(with: er) } catch { throw .malformed("low-order ephemeral key") }
        let h1 = Blake2b.hash256(h0 + ephemeral.publicKey + er)
        let key = Handshake.prf(dh, "souk/hs/v1/key", h1)
        guard let opened = Handshake.open(Array(m[33...]), key: key, counter: 0, ad: h1) else {
            throw .authenticationFailed
        }
        let sr = Array(opened[0..<32])
        let sigR = Array(opened[32..<96])
        guard Ed25519.verify(signature: sigR, message: Array("souk/hs/v1/responder".utf8) + h1 + sr, publicKey: sr)
        else { throw .authenticationFailed }
        let peer = NodeID(publicKey: sr)!
        if let expectedPeer, expectedPeer != peer { throw .unexpectedPeer(expected: expectedPeer, actual: peer) }
        guard sr != identity.publicKey else { throw .selfConnection }
        let h2 = Blake2b.hash256(h1 + sr)
        let sigI = identity.sign(Array("souk/hs/v1/initiator".utf8) + h2 + identity.publicKey)
        let msg3 = Handshake.seal(identity.publicKey + sigI, key: key, counter: 1, ad: h2)
        let h3 = Blake2b.hash256(h2 + identity.publicKey)
        state = .done
        let session = Session(
            peer: peer, sendKey: Handshake.prf(dh, "souk/hs/v1/i2r", h3),
            receiveKey: Handshake.prf(dh, "souk/hs/v1/r2i", h3),
            transcriptHash: h3)
        return Step(send: msg3, session: session)
    }

    private mutating func finishAsResponder(_ m: [UInt8], h2: [UInt8], key: [UInt8], dh: [UInt8]) throws(HandshakeError)
        -> Step
    {
        guard m.count == 96 + ChaChaPoly.tagBytes else { throw .malformed("bad final message length") }
        guard let opened = Handshake.open(m, key: key, counter: 1, ad: h2) else { throw .authenticationFailed }
        let si = Array(opened[0..<32])
        let sigI = Array(opened[32..<96])
        guard Ed25519.verify(signature: sigI, message: Array("souk/hs/v1/initiator".utf8) + h2 + si, publicKey: si)
        else { throw .authenticationFailed }
        guard si != identity.publicKey else { throw .selfConnection }
        let h3 = Blake2b.hash256(h2 + si)
        state = .done
        let session = Session(
            peer: NodeID(publicKey: si)!, sendKey: Handshake.prf(dh, "souk/hs/v1/r2i", h3),
            receiveKey: Handshake.prf(dh, "souk/hs/v1/i2r", h3), transcriptHash: h3)
        return Step(send: nil, session: session)
    }

    /// `h0 = BLAKE2b-256("souk/hs/v1" || network name)`.
    static func h0(network: String) -> [UInt8] { Blake2b.hash256(Array("souk/hs/v1".utf8) + Array(network.utf8)) }

    /// Keyed BLAKE2b-256 as a PRF: `BLAKE2b-256(key: dh, label || transcript hash)`.
    static func prf(_ dh: [UInt8], _ label: String, _ h: [UInt8]) -> [UInt8] {
        Blake2b.hash(Array(label.utf8) + h, outputLength: 32, key: dh)
    }

    static func seal(_ plaintext: [UInt8], key: [UInt8], counter: UInt64, ad: [UInt8]) -> [UInt8] {
        // Key and nonce lengths are fixed here, so sealing cannot fail.
        try! ChaChaPoly.seal(plaintext, key: key, nonce: ChaChaPoly.nonce(counter: counter), ad: ad)
    }

    static func open(_ ciphertext: [UInt8], key: [UInt8], counter: UInt64, ad: [UInt8]) -> [UInt8]? {
        try? ChaChaPoly.open(ciphertext, key: key, nonce: ChaChaPoly.nonce(counter: counter), ad: ad)
    }

    /// A refusal message: `0x00 | u8 len | reason`.
    static func refusal(_ reason: String) -> [UInt8] {
        let r = Array(reason.utf8.prefix(200))
        return [0x00, UInt8(r.count)] + r
    }
}

/// Why a handshake failed. Each has a log line; `refusal` is what to send the peer before closing.
public enum HandshakeError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case networkMismatch(ours: String, theirs: String, refusal: [UInt8])
    case refusedByUs(reason: String, refusal: [UInt8])
    case refusedByPeer(reason: String)
    case authenticationFailed
    case unexpectedPeer(expected: NodeID, actual: NodeID)
    case unexpectedMessage
    case selfConnection
    case timeout

    /// The message to send before closing, when the peer deserves an explanation.
    public var refusal: [UInt8]? {
        switch self {
        case .networkMismatch(_, _, let r), .refusedByUs(_, let r): return r
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .malformed(let s): return "malformed handshake: \(s)"
        case .networkMismatch(let ours, let theirs, _):
            return "peer is on network \"\(theirs)\", this node is on \"\(ours)\"; refused"
        case .refusedByUs(let r, _): return "handshake refused: \(r)"
        case .refusedByPeer(let r): return "peer refused the handshake: \(r)"
        case .authenticationFailed: return "handshake authentication failed (bad tag or signature)"
        case .unexpectedPeer(let e, let a): return "expected node \(e), peer proved \(a)"
        case .unexpectedMessage: return "unexpected handshake message"
        case .selfConnection: return "connected to ourselves"
        case .timeout: return "handshake timed out"
        }
    }
}
