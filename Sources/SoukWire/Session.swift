public import SoukCore
import SoukCrypto

/// An established link's keys and counters. Frames are `u32 BE length | ChaCha20-Poly1305(key,
/// nonce = 0^4 || LE64 counter, ad = the four length bytes)`; each direction has its own key and
/// counter, so a replayed, reordered or dropped frame fails authentication.
public struct Session: Sendable {
    public let peer: NodeID
    /// Both sides derive the same value; usable as a channel binding.
    public let transcriptHash: [UInt8]
    private let sendKey: [UInt8]
    private let receiveKey: [UInt8]
    private var sendCounter: UInt64 = 0
    private var receiveCounter: UInt64 = 0

    init(peer: NodeID, sendKey: [UInt8], receiveKey: [UInt8], transcriptHash: [UInt8]) {
        self.peer = peer
        self.sendKey = sendKey
        self.receiveKey = receiveKey
        self.transcriptHash = transcriptHash
    }

    /// Encrypts one message into a complete frame (length prefix included).
    /// - Precondition: `plaintext.count <= FrameCodec.maxPlaintextBytes`.
    public mutating func seal(_ plaintext: [UInt8]) -> [UInt8] {
        precondition(plaintext.count <= FrameCodec.maxPlaintextBytes, "message too large for one frame")
        let length = FrameCodec.lengthBytes(plaintext.count + ChaChaPoly.tagBytes)
        let ct = try! ChaChaPoly.seal(
            plaintext, key: sendKey, nonce: ChaChaPoly.nonce(counter: sendCounter), ad: length)
        sendCounter += 1
        return length + ct
    }

    /// Decrypts the body of one received frame.
    /// - Throws: `WireError.badTag` for any tampered, replayed or reordered frame.
    public mutating func open(_ body: [UInt8]) throws(WireError) -> [UInt8] {
        guard body.count > ChaChaPoly.tagBytes else { throw .frameTooSmall(body.count) }
        let length = FrameCodec.lengthBytes(body.count)
        guard
            let pt = try? ChaChaPoly.open(
                body, key: receiveKey, nonce: ChaChaPoly.nonce(counter: receiveCounter), ad: length)
        else { throw .badTag }
        receiveCounter += 1
        return pt
    }
}
