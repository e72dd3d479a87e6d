/// Why an object or request was refused. The code is stable (tests and RPC `data` use it);
/// the message is one line a person can act on; `misbehaving` says whether a peer that sent the
/// object broke a rule (and is banned) or not (clocks differ, a kind it may know and we do not).
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
        /// A kind byte this node does not know: a newer release's object. Dropped, never punished.
        case unknownKind = "unknown_kind"
        case invalidProfile = "invalid_profile"
        case invalidArbiterProfile = "invalid_arbiter_profile"
        case invalidOrder = "invalid_order"
        case invalidTradeStep = "invalid_trade_step"
        case invalidResolution = "invalid_resolution"
        case invalidMessage = "invalid_message"
        case invalidLogEntry = "invalid_log_entry"
        case invalidForkProof = "invalid_fork_proof"
        /// The author's log forked (two entries at one seq): its later entries are refused, and
        /// the peer that carried one is not to blame.
        case forkedLog = "forked_log"
        /// Signed for another network (a testnet trade offered to a main node): never backs anything
        /// here; dropped without blaming the link, which may only have carried it.
        case wrongNetwork = "wrong_network"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// True when the object could only come from a peer that broke the format or signed nonsense;
    /// false for refusals an honest peer can cause: a clock that differs from ours (`expired`,
    /// `from_the_future`) or a kind from a newer release (`unknown_kind`).
    public var misbehaving: Bool {
        switch code {
        case .expired, .fromTheFuture, .unknownKind, .wrongNetwork, .forkedLog: return false
        default: return true
        }
    }

    public var description: String { message }
}
