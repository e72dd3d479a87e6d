public import NIOCore

/// Splits the byte stream into frames: `u32 BE length | body`. It only converts; the link's state
/// machine decides what a body means (a handshake message, or ciphertext).
///
/// Denial-of-service rule: a length over `maxBodyBytes` (or zero) throws before any byte of the
/// body is waited for or buffered, and the handler closes the link.
public struct FrameCodec: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = [UInt8]

    /// Largest message plaintext; the largest frame body adds the 16-byte tag.
    public static let maxPlaintextBytes = 512 * 1024
    public static let maxBodyBytes = maxPlaintextBytes + 16

    /// How many leading frames are held to the handshake limit (`Handshake.maxMessageBytes`).
    private var handshakeFramesLeft: Int

    /// - Parameter handshakeFrames: the number of leading frames that must be handshake-sized. A
    ///   link's first two received frames are always small (msg1 and msg3, or msg2 and `hello`), so
    ///   peer links pass 2: an unauthenticated peer can never make us buffer more than 256 bytes.
    public init(handshakeFrames: Int = 0) {
        handshakeFramesLeft = handshakeFrames
    }

    public static func lengthBytes(_ n: Int) -> [UInt8] {
        [
            UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8),
            UInt8(truncatingIfNeeded: n),
        ]
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let limit = handshakeFramesLeft > 0 ? Handshake.maxMessageBytes : FrameCodec.maxBodyBytes
        guard let frame = try FrameCodec.nextFrame(&buffer, maxBody: limit) else { return .needMoreData }
        if handshakeFramesLeft > 0 { handshakeFramesLeft -= 1 }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// Takes one complete frame body off the front of `buffer`, or returns nil if incomplete.
    /// - Throws: `WireError.frameTooLarge` / `.frameTooSmall` as soon as the length prefix is read.
    public static func nextFrame(_ buffer: inout ByteBuffer, maxBody: Int = maxBodyBytes) throws(WireError) -> [UInt8]?
    {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length <= UInt32(maxBody) else { throw .frameTooLarge(Int(length)) }
        guard length > 0 else { throw .frameTooSmall(0) }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readBytes(length: Int(length))
    }
}

/// Link-level protocol violations. Every one closes the link; most also count toward a ban.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    case frameTooLarge(Int)
    case frameTooSmall(Int)
    case badTag
    case malformedMessage(String)
    case unknownMandatoryType(UInt8)
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .frameTooLarge(let n): return "frame length \(n) exceeds the limit"
        case .frameTooSmall(let n): return "frame length \(n) is too small"
        case .badTag: return "frame failed authentication (tampered, replayed or out of order)"
        case .malformedMessage(let s): return "malformed message: \(s)"
        case .unknownMandatoryType(let t): return "unknown mandatory message type 0x\(String(t, radix: 16))"
        case .protocolViolation(let s): return "protocol violation: \(s)"
        }
    }
}
