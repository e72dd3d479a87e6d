import SoukCrypto

/// A node or participant identity: an Ed25519 public key, printed as 64 hex digits.
public struct NodeID: Hashable, Sendable, CustomStringConvertible {
    public let publicKey: [UInt8]

    public init?(publicKey: [UInt8]) {
        guard publicKey.count == Ed25519.publicKeyBytes else { return nil }
        self.publicKey = publicKey
    }

    public init?(hex: String) {
        guard let b = Hex.decode(hex) else { return nil }
        self.init(publicKey: b)
    }

    public var hex: String { Hex.encode(publicKey) }
    public var description: String { hex }
}
