/// The kind byte of a signed object. Each kind is a type conforming to `ObjectPayload`, which
/// declares its `ObjectKind` constant in its own file; `ObjectRegistry` lists the kinds this node
/// knows. The name goes into the domain tag (see `Specs/objects.md`, "Domain tags") and into JSON
/// and logs.
public struct ObjectKind: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public let name: String

    /// Declares a kind. Only a payload type's file should call this.
    public init(rawValue: UInt8, name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    /// The known kind with this byte, or `nil` for a kind this node does not support.
    public init?(rawValue: UInt8) {
        guard let type = ObjectRegistry.payloadType(rawValue) else { return nil }
        self = type.kind
    }

    /// `"souk/sig/v1/" + name + NUL`, prepended to the payload before signing.
    public var domainTag: [UInt8] { Array("souk/sig/v1/\(name)".utf8) + [0] }

    /// The payload type of this kind.
    public var payloadType: any ObjectPayload.Type { ObjectRegistry.payloadType(rawValue)! }

    /// The largest payload this kind accepts, enforced before any allocation for it.
    public var maxPayloadBytes: Int { payloadType.maxPayloadBytes }

    /// How objects of this kind spread.
    public var propagation: Propagation { payloadType.propagation }

    public static func == (a: ObjectKind, b: ObjectKind) -> Bool { a.rawValue == b.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    public var description: String { name }
}

/// How objects of a kind travel between nodes.
public enum Propagation: Sendable, Equatable {
    /// To every node: pushed and announced by gossip, served to anyone, reconciled.
    case gossip
    /// Only to named recipients (trade steps, chat): never announced, reconciled or served to others.
    case addressed
}
