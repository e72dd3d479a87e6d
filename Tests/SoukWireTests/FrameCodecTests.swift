import NIOCore
import NIOEmbedded
import NIOTestUtils
import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

@Suite("FrameCodec")
struct FrameCodecTests {
    static func frame(_ body: [UInt8]) -> [UInt8] { FrameCodec.lengthBytes(body.count) + body }

    /// The handler as `PeerManager` installs it, without the 256-byte hold on the first two frames
    /// (`handshakeFrames: 2`, tested on its own), so every size can be fed from the first frame.
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameCodec(), maximumBufferSize: FrameCodec.maxBodyBytes + 4))
        return channel
    }

    @Test("limits: 512 KiB of plaintext, plus the 16-byte tag per body")
    func limits() {
        #expect(FrameCodec.maxPlaintextBytes == 524_288)
        #expect(FrameCodec.maxBodyBytes == 524_304)
        #expect(FrameCodec.lengthBytes(0x0102_0304) == [1, 2, 3, 4])
        #expect(FrameCodec.lengthBytes(FrameCodec.maxBodyBytes) == [0x00, 0x08, 0x00, 0x10])
    }

    @Test("ByteToMessageDecoderVerifier: byte by byte, whole, and many frames per buffer")
    func verifier() throws {
        var rng = SplitMix64(seed: 7)
        let bodies: [[UInt8]] = [
            [0x01], [0x02, 0x2a], Array("hello, frame".utf8),
            (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) },
            [UInt8](repeating: 0, count: 17),
        ]
        let pairs = bodies.map { (ByteBuffer(bytes: Self.frame($0)), [$0]) }
        // Two frames in one buffer give two outputs.
        let double = (
            ByteBuffer(bytes: Self.frame([0xaa]) + Self.frame([0xbb, 0xcc])), [[UInt8(0xaa)], [0xbb, 0xcc]]
        )
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs + [double]) { FrameCodec() }
    }

    @Test("random splits of a stream of frames give back exactly the frames, in order", arguments: [1, 2, 3])
    func randomSplits(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var bodies: [[UInt8]] = []
        var stream: [UInt8] = []
        for _ in 0..<60 {
            let size =
                Bool.random(using: &rng) ? Int.random(in: 1...40, using: &rng) : Int.random(in: 41...5000, using: &rng)
            let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bodies.append(body)
            stream += Self.frame(body)
        }
        let channel = try Self.channel()
        var received: [[UInt8]] = []
        var offset = 0
        while offset < stream.count {
            let n = min(stream.count - offset, Int.random(in: 1...700, using: &rng))
            try channel.writeInbound(ByteBuffer(bytes: stream[offset..<(offset + n)]))
            offset += n
            while let body = try channel.readInbound(as: [UInt8].self) { received.append(body) }
        }
        #expect(received == bodies)
        #expect(try channel.finish().isClean)
    }

    @Test("a maximum-size frame passes the handler PeerManager installs")
    func maximumFrame() throws {
        let body = [UInt8](repeating: 0x5a, count: FrameCodec.maxBodyBytes)
        let frame = Self.frame(body)
        let channel = try Self.channel()
        // In a few pieces: the first four bytes alone, then the body in chunks.
        try channel.writeInbound(ByteBuffer(bytes: frame[0..<4]))
        #expect(try channel.readInbound(as: [UInt8].self) == nil)
        var offset = 4
        while offset < frame.count {
            let n = min(frame.count - offset, 100_000)
            try channel.writeInbound(ByteBuffer(bytes: frame[offset..<(offset + n)]))
            offset += n
        }
        #expect(try channel.readInbound(as: [UInt8].self) == body)
        _ = try channel.finish()
    }

    @Test(
        "a length prefix over the maximum throws on its 4 bytes, before any body arrives",
        arguments: [UInt32(FrameCodec.maxBodyBytes + 1), 1 << 24, UInt32.max])
    func tooLargeBeforeBody(length: UInt32) throws {
        let channel = try Self.channel()
        var prefix = ByteBuffer()
        prefix.writeInteger(length)
        #expect(throws: WireError.frameTooLarge(Int(length))) { try channel.writeInbound(prefix) }
        #expect(try channel.readInbound(as: [UInt8].self) == nil)
        _ = try? channel.finish()
    }

    @Test("the first two frames are held to handshake size, later frames are not (as PeerManager installs it)")
    func handshakeFramesHeld() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameCodec(handshakeFrames: 2), maximumBufferSize: FrameCodec.maxBodyBytes + 4))
        let small = [UInt8](repeating: 1, count: Handshake.maxMessageBytes)
        try channel.writeInbound(ByteBuffer(bytes: Self.frame(small) + Self.frame(small)))
        #expect(try channel.readInbound(as: [UInt8].self) == small)
        #expect(try channel.readInbound(as: [UInt8].self) == small)
        let big = [UInt8](repeating: 2, count: Handshake.maxMessageBytes + 1)
        try channel.writeInbound(ByteBuffer(bytes: Self.frame(big)))
        #expect(try channel.readInbound(as: [UInt8].self) == big, "the third frame may be large")
        _ = try? channel.finish()

        let early = EmbeddedChannel()
        try early.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameCodec(handshakeFrames: 2), maximumBufferSize: FrameCodec.maxBodyBytes + 4))
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt32(Handshake.maxMessageBytes + 1))
        #expect(throws: WireError.self, "an oversized first frame is refused on its length alone") {
            try early.writeInbound(prefix)
        }
        _ = try? early.finish()
    }

    @Test("the largest allowed prefix alone waits for its body without throwing")
    func largestPrefixWaits() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(FrameCodec.maxBodyBytes))
        #expect(try FrameCodec.nextFrame(&buffer) == nil)
        #expect(buffer.readableBytes == 4, "nothing consumed until the frame is complete")
    }

    @Test("a zero length prefix is refused")
    func zeroLength() throws {
        let channel = try Self.channel()
        #expect(throws: WireError.frameTooSmall(0)) { try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0])) }
        _ = try? channel.finish()
    }

    @Test("nextFrame takes one frame at a time and leaves partial input in place")
    func nextFrame() throws {
        var buffer = ByteBuffer(bytes: Self.frame([1, 2, 3]) + Self.frame([4]) + [0, 0])
        #expect(try FrameCodec.nextFrame(&buffer) == [1, 2, 3])
        #expect(try FrameCodec.nextFrame(&buffer) == [4])
        #expect(try FrameCodec.nextFrame(&buffer) == nil)
        #expect(buffer.readableBytes == 2)
        buffer.writeBytes([0, 2, 9])
        #expect(try FrameCodec.nextFrame(&buffer) == nil, "2 of 3 bytes: still incomplete")
        buffer.writeBytes([9])
        #expect(try FrameCodec.nextFrame(&buffer) == [9, 9])
    }
}

@Suite("Session")
struct SessionTests {
    @Test("a replayed frame fails authentication")
    func replay() throws {
        var run = try runHandshake()
        let frame = run.initiator.seal(PeerMessage.ping(1).encoded())
        #expect(try run.responder.open(frameBody(frame)) == PeerMessage.ping(1).encoded())
        #expect(throws: WireError.badTag) { try run.responder.open(frameBody(frame)) }
    }

    @Test("reordered or dropped frames fail authentication")
    func reorder() throws {
        var run = try runHandshake()
        let first = run.initiator.seal([0x02, 0x01])
        let second = run.initiator.seal([0x02, 0x02])
        let third = run.initiator.seal([0x02, 0x03])
        #expect(throws: WireError.badTag) { try run.responder.open(frameBody(second)) }
        #expect(throws: WireError.badTag) { try run.responder.open(frameBody(third)) }
        // A failure does not advance the counter (the link is closed on it anyway).
        #expect(try run.responder.open(frameBody(first)) == [0x02, 0x01])
        #expect(throws: WireError.badTag, "dropping the second frame breaks the third") {
            try run.responder.open(frameBody(third))
        }
    }

    @Test("any flipped bit in a frame body fails authentication")
    func tamper() throws {
        var run = try runHandshake()
        let body = frameBody(run.initiator.seal(PeerMessage.ihave([Fixture.objectID(1)]).encoded()))
        for index in stride(from: 0, to: body.count, by: 5) {
            var bad = body
            bad[index] ^= 0x80
            var responder = run.responder
            #expect(throws: WireError.badTag, "byte \(index)") { try responder.open(bad) }
        }
    }

    @Test("the length is authenticated: the same ciphertext under another length fails")
    func lengthIsAssociatedData() throws {
        let spec = SpecTranscript()
        var run = try runHandshake()
        let plaintext = [UInt8](repeating: 0x10, count: 10)
        // Sealed with AD claiming a different length than the body has.
        let wrongAD = try ChaChaPoly.seal(
            plaintext, key: spec.keyI2R, nonce: SpecTranscript.nonce(0), ad: SpecTranscript.be32(99))
        #expect(throws: WireError.badTag) { try run.responder.open(wrongAD) }
        let rightAD = try ChaChaPoly.seal(
            plaintext, key: spec.keyI2R, nonce: SpecTranscript.nonce(0), ad: SpecTranscript.be32(26))
        #expect(try run.responder.open(rightAD) == plaintext)
    }

    @Test("a body no longer than the tag is refused as too small")
    func tooSmall() throws {
        var run = try runHandshake()
        #expect(throws: WireError.frameTooSmall(16)) { try run.responder.open([UInt8](repeating: 0, count: 16)) }
        #expect(throws: WireError.frameTooSmall(0)) { try run.responder.open([]) }
    }

    @Test("a frame's length prefix counts the ciphertext and the tag")
    func sealLayout() throws {
        var run = try runHandshake()
        let frame = run.initiator.seal([UInt8](repeating: 1, count: 100))
        #expect(frame.count == 4 + 100 + 16)
        #expect(Array(frame[0..<4]) == [0, 0, 0, 116])
    }
}
