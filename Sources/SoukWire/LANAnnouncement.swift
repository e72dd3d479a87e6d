/// A local-discovery announcement (`Specs/wire.md` §16): one UDP datagram a node broadcasts on its
/// local network so neighbours can dial it. It says no more than a handshake reveals to anyone who
/// connects: the network name and the P2P port. The instance id is random per process start and
/// only lets a node ignore its own announcements; it is not the node id. Nothing in it is trusted:
/// a receiver only dials the sender's address, and the handshake that follows authenticates.
public struct LANAnnouncement: Sendable, Equatable {
    public static let magic: [UInt8] = Array("souk-lan".utf8)
    public static let version: UInt8 = 1
    /// Longer datagrams are not announcements.
    public static let maxBytes = 8 + 1 + 1 + 200 + 2 + 8

    public var network: String
    public var p2pPort: UInt16
    public var instance: [UInt8]

    /// - Precondition: the network name is 1...200 bytes, `instance` is 8 bytes.
    public init(network: String, p2pPort: UInt16, instance: [UInt8]) {
        precondition((1...200).contains(network.utf8.count) && instance.count == 8)
        self.network = network
        self.p2pPort = p2pPort
        self.instance = instance
    }

    public var encoded: [UInt8] {
        var out = Self.magic
        out.append(Self.version)
        out.append(UInt8(network.utf8.count))
        out += Array(network.utf8)
        out += [UInt8(p2pPort >> 8), UInt8(p2pPort & 0xff)]
        out += instance
        return out
    }

    /// The announcement in `datagram`, or `nil` for anything else: wrong magic or version, a
    /// network name of 0 or more than 200 bytes or not UTF-8, port 0, missing or trailing bytes.
    public init?(datagram: [UInt8]) {
        guard datagram.count <= Self.maxBytes, datagram.count >= 8 + 1 + 1 + 1 + 2 + 8,
            Array(datagram[0..<8]) == Self.magic, datagram[8] == Self.version
        else { return nil }
        let length = Int(datagram[9])
        guard (1...200).contains(length), datagram.count == 10 + length + 2 + 8,
            let name = String(validating: datagram[10..<(10 + length)], as: UTF8.self)
        else { return nil }
        let port = UInt16(datagram[10 + length]) << 8 | UInt16(datagram[11 + length])
        guard port != 0 else { return nil }
        self.init(network: name, p2pPort: port, instance: Array(datagram[(12 + length)...]))
    }
}
