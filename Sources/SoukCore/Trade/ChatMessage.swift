import SoukCrypto

/// A chat message (`Specs/trade.md` §9), kind 7 `chat-message`: between a buyer and a seller about
/// a listing (before any order) or within a trade (the arbiter too, in a dispute). Addressed to its
/// recipients only, sealed in transit like trade steps; ordered per conversation by
/// (`created_at`, object id).
///
/// Layout: `0x01 | string network | varint created_at | conversation (32) | varint n |
/// n × recipient key (32) | string text`.
public struct ChatMessage: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1
    public enum Limits {
        public static let textMaxBytes = 4_096
        public static let textMaxCharacters = 2_000
        public static let maxRecipients = 2
    }

    public var network: String
    public var createdAt: UInt64
    /// A trade id, or `ChatMessage.conversation(listing:buyer:)` before an order.
    public var conversation: [UInt8]
    public var recipients: [NodeID]
    public var text: String

    public init(network: String, createdAt: UInt64, conversation: [UInt8], recipients: [NodeID], text: String) {
        self.network = network
        self.createdAt = createdAt
        self.conversation = conversation
        self.recipients = recipients
        self.text = text
    }

    /// The conversation of one buyer with a listing's seller, before an order.
    public static func conversation(listing: ListingID, buyer: NodeID) -> [UInt8] {
        Blake2b.hash256(Array("souk/chat/listing/v1".utf8) + [0] + listing.bytes + buyer.publicKey)
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + text.utf8.count)
        w.writeByte(Self.formatVersion)
        w.writeString(network)
        w.writeVarint(createdAt)
        w.writeBytes(conversation)
        w.writeVarint(UInt64(recipients.count))
        for r in recipients { w.writeBytes(r.publicKey) }
        w.writeString(text)
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .chatMessage, format: Self.formatVersion) { r in
            let network = try r.readString("network", maxBytes: 200)
            let createdAt = try r.readVarint("created_at")
            let conversation = try r.readBytes(32, "conversation")
            let n = try r.readVarint("recipients count")
            guard n >= 1, n <= UInt64(Limits.maxRecipients) else {
                throw DecodingError.invalidValue(field: "recipients", reason: "1 or 2 recipients, got \(n)")
            }
            var recipients: [NodeID] = []
            for _ in 0..<n { recipients.append(NodeID(publicKey: try r.readBytes(32, "recipient"))!) }
            let text = try r.readString("text", maxBytes: Limits.textMaxBytes)
            return ChatMessage(
                network: network, createdAt: createdAt, conversation: conversation, recipients: recipients, text: text)
        }
        func refuse(_ m: String) -> ValidationError { ValidationError(.invalidMessage, m) }
        guard !network.isEmpty else { throw refuse("network must not be empty") }
        guard Set(recipients).count == recipients.count else { throw refuse("recipients must be distinct") }
        guard TextRules.hasVisibleCharacter(text), TextRules.characterCount(text, atMost: Limits.textMaxCharacters),
            !TextRules.hasControl(text, allowNewlines: true)
        else {
            throw refuse("a message is 1 to \(Limits.textMaxCharacters) characters without control characters")
        }
    }
}

extension ObjectKind {
    /// Kind 7: a chat message (`ChatMessage`), addressed to its recipients.
    public static let chatMessage = ObjectKind(rawValue: 7, name: "chat-message")
}

extension ChatMessage: ObjectPayload {
    public static var kind: ObjectKind { .chatMessage }
    public static var maxPayloadBytes: Int { 4_096 + 512 }
    public static var propagation: Propagation { .addressed }
    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) {
        try TimeRules.check(createdAt, "created_at", now: now)
        guard !recipients.contains(where: { $0.publicKey == signer }) else {
            throw ValidationError(.invalidMessage, "a message is not addressed to its own sender")
        }
    }
    public var timestamp: UInt64 { createdAt }
    public var retainUntil: UInt64? { nil }
    public var objectNetwork: String? { network }
}

/// What a sender is warned about before a message leaves (never blocked): contact details move the
/// deal outside the trade, where the arbiter cannot help.
public enum ContactDetails {
    /// The kinds of contact details found in `text` (`email`, `phone`, `iban`, `messenger`), empty if none.
    public static func find(in text: String) -> [String] {
        var found: [String] = []
        let lower = text.lowercased()
        if lower.contains(/[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}/) { found.append("email") }
        // A run of 7 to 15 digits, allowing spaces, dots, dashes, slashes and brackets between them.
        for m in text.matches(of: /\+?\d[\d .\-\/()]{5,22}\d/)
        where (7...15).contains(m.output.filter(\.isNumber).count) {
            found.append("phone")
            break
        }
        if containsIBAN(text) { found.append("iban") }
        if lower.contains(/(telegram|whatsapp|wechat|t\.me\/|wa\.me\/|discord|skype|signal\.me|@[a-z0-9_]{4,}\b)/),
            !found.contains("email") || lower.contains(/(telegram|whatsapp|wechat|t\.me\/|wa\.me\/|discord|skype)/)
        {
            found.append("messenger")
        }
        return found
    }

    /// An IBAN: a country code, two check digits and 11–30 letters or digits (spaces allowed),
    /// whose ISO 13616 check (mod 97) holds, so "Is 20 euros fine" is not one.
    static func containsIBAN(_ text: String) -> Bool {
        for m in text.uppercased().matches(of: /[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}/) {
            let compact = m.output.filter { !$0.isWhitespace }
            for length in stride(from: compact.count, through: 15, by: -1) {
                let candidate = Array(compact.prefix(length))
                let rearranged = candidate[4...] + candidate[..<4]
                var remainder = 0
                for c in rearranged {
                    guard let v = c.isNumber ? c.wholeNumberValue : c.asciiValue.map({ Int($0) - 55 }) else { break }
                    for digit in String(v) { remainder = (remainder * 10 + digit.wholeNumberValue!) % 97 }
                }
                if remainder == 1 { return true }
            }
        }
        return false
    }
}
