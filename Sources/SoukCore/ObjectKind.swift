/// The kinds of signed object. The raw value is the kind byte on the wire; the domain tag
/// separates signatures of different kinds (see `Specs/objects.md`, "Domain tags").
public enum ObjectKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case listing = 1
    case listingRetraction = 2

    /// The name used in the domain tag, JSON and logs.
    public var name: String {
        switch self {
        case .listing: return "listing"
        case .listingRetraction: return "listing-retraction"
        }
    }

    /// `"souk/sig/v1/" + name + NUL`, prepended to the payload before signing.
    public var domainTag: [UInt8] { Array("souk/sig/v1/\(name)".utf8) + [0] }

    /// The largest payload this kind accepts, enforced before any allocation for it.
    public var maxPayloadBytes: Int {
        switch self {
        case .listing: return Envelope.maxPayloadBytes
        case .listingRetraction: return 64
        }
    }

    public var description: String { name }
}
