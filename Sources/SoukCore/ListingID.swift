import SoukCrypto

/// The stable id of a listing across its versions: BLAKE2b-128 of
/// `"souk/listing-id/v1" || seller public key || salt`. Deriving it from the seller's key means no
/// other key can publish under it. Printed as 32 hex digits.
public struct ListingID: Hashable, Sendable, CustomStringConvertible {
    public static let saltBytes = 16
    public let bytes: [UInt8]

    public init(seller: [UInt8], salt: [UInt8]) {
        bytes = Blake2b.hash(Array("souk/listing-id/v1".utf8) + seller + salt, outputLength: 16)
    }

    public init?(hex: String) {
        guard let b = Hex.decode(hex), b.count == 16 else { return nil }
        bytes = b
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
}

/// The state of a second-hand good, or `notApplicable` for services.
public enum ItemCondition: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case new = 0
    case likeNew = 1
    case good = 2
    case fair = 3
    case poor = 4
    case forParts = 5
    case notApplicable = 6

    public var name: String {
        switch self {
        case .new: return "new"
        case .likeNew: return "like-new"
        case .good: return "good"
        case .fair: return "fair"
        case .poor: return "poor"
        case .forParts: return "for-parts"
        case .notApplicable: return "n/a"
        }
    }

    public init?(name: String) {
        guard let c = ItemCondition.allCases.first(where: { $0.name == name }) else { return nil }
        self = c
    }

    public var description: String { name }
}
