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

    public init() {}

    public static func lengthBytes(_ n: Int) -> [UInt8] {
        [UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8),
         UInt8(truncatingIfNeeded: n)]
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try FrameCodec.nextFrame(&buffer) else { return .needMoreData }
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
    public static func nextFrame(_ buffer: inout ByteBuffer) throws(WireError) -> [UInt8]? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length <= UInt32(maxBodyBytes) else { throw .frameTooLarge(Int(length)) }
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
        case .frameTooLarge(let n): return "frame length \(n) exceeds \(FrameCodec.maxBodyBytes)"
        case .frameTooSmall(let n): return "frame length \(n) is too small"
        case .badTag: return "frame failed authentication (tampered, replayed or out of order)"
        case .malformedMessage(let s): return "malformed message: \(s)"
        case .unknownMandatoryType(let t): return "unknown mandatory message type 0x\(String(t, radix: 16))"
        case .protocolViolation(let s): return "protocol violation: \(s)"
        }
    }
}
