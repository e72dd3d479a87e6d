/// Why an object or request was refused. The code is stable (tests and RPC `data` use it);
/// the message is one line a person can act on.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case malformed
        case badSignature = "bad_signature"
        case wrongKind = "wrong_kind"
        case invalidTitle = "invalid_title"
        case invalidDescription = "invalid_description"
        case invalidPrice = "invalid_price"
        case unknownCurrency = "unknown_currency"
        case invalidCategory = "invalid_category"
        case invalidLocation = "invalid_location"
        case invalidCountry = "invalid_country"
        case invalidQuantity = "invalid_quantity"
        case invalidCondition = "invalid_condition"
        case invalidTags = "invalid_tags"
        case invalidVersion = "invalid_version"
        case invalidTimestamps = "invalid_timestamps"
        case fromTheFuture = "from_the_future"
        case expired
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
