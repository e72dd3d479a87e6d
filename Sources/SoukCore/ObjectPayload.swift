/// The payload of one kind of signed object (DESIGN "Shape": a kind is a type).
///
/// A conforming type owns everything about its kind that needs no stored state: the kind byte and
/// name, the payload size cap, decoding from the verbatim payload bytes, the stateless rules
/// (fields and clock), the object's own time, how long a node keeps it, and how it propagates.
/// Rules that need stored state (versions, quotas, dependencies) belong to the kind's applier in
/// `SoukStore`. Adding a kind is one file conforming to this protocol plus one line in
/// `ObjectRegistry`.
public protocol ObjectPayload: Sendable {
    /// The kind byte and name.
    static var kind: ObjectKind { get }
    /// The largest payload accepted, checked before the payload is read.
    static var maxPayloadBytes: Int { get }
    /// To everyone by gossip, or to named recipients.
    static var propagation: Propagation { get }

    /// Decodes the payload bytes exactly as signed and checks every static field rule.
    /// - Throws: `ValidationError`, `.malformed` for bytes that do not decode.
    init(decoding payload: [UInt8]) throws(ValidationError)

    /// The canonical payload bytes, to sign.
    func encoded() -> [UInt8]

    /// The clock-dependent rules (not from the future, not expired) and any rule that needs the signer.
    /// - Throws: `ValidationError` naming the failed rule.
    func validate(signer: [UInt8], now: UInt64) throws(ValidationError)

    /// The object's own time, Unix seconds: orders it in reconciliation.
    var timestamp: UInt64 { get }

    /// When every node may forget the object (Unix seconds), or `nil` to keep it until it is replaced.
    var retainUntil: UInt64? { get }

    /// The version of a replaceable object (a newer one replaces the held one), or `nil`. Rate
    /// limits count replacements: versions above 1.
    var replaceableVersion: UInt64? { get }

    /// What holding this object satisfies besides its own id (for example "entry n of author A"),
    /// so that objects waiting for it are checked again.
    func provides(signer: [UInt8]) -> [ObjectDependency]

    /// The network the object was signed for, for kinds that name one (trade objects, so a testnet
    /// trade never backs anything on the main network); `nil` for kinds that do not.
    var objectNetwork: String? { get }
}

extension ObjectPayload {
    public static var propagation: Propagation { .gossip }
    public func provides(signer: [UInt8]) -> [ObjectDependency] { [] }
    public var replaceableVersion: UInt64? { nil }
    public var objectNetwork: String? { nil }
}

/// The kinds this node knows. Unknown kinds are dropped on receipt, never punished (DESIGN
/// invariant 12), and never offered to a peer that did not advertise them in its `hello`.
public enum ObjectRegistry {
    /// Every supported payload type. A new kind adds one line here.
    public static let payloadTypes: [any ObjectPayload.Type] = [
        Listing.self,
        ListingRetraction.self,
        NodeProfile.self,
        ArbiterProfile.self,
        TradeStep.self,
        TradeResolution.self,
        ChatMessage.self,
        LogEntry.self,
        ForkProof.self,
    ]

    private static let byByte: [(any ObjectPayload.Type)?] = {
        var table = [(any ObjectPayload.Type)?](repeating: nil, count: 256)
        for type in payloadTypes {
            precondition(table[Int(type.kind.rawValue)] == nil, "two payload types claim kind \(type.kind.rawValue)")
            table[Int(type.kind.rawValue)] = type
        }
        return table
    }()

    /// The payload type of a kind byte, `nil` if unknown.
    public static func payloadType(_ kind: UInt8) -> (any ObjectPayload.Type)? { byByte[Int(kind)] }

    /// Every supported kind, in byte order (what `hello` advertises).
    public static var kinds: [ObjectKind] { payloadTypes.map { $0.kind }.sorted { $0.rawValue < $1.rawValue } }
}
