/// The payload of a `node-profile` object, format 1: what a node tells everyone about itself, and
/// how a buyer finds a seller's node from the seller's key (see `Specs/objects.md`, "Node profile").
///
/// Layout: `0x01 | varint version | varint updated_at | varint expires_at | string display_name |
/// varint len(avatar) | avatar (0 or 32) | varint n | n × string address | varint n | n × mailbox
/// node id (32) | varint n | n × arbiter key (32) | varint n | n × string language`.
/// One profile per signer: a higher version replaces the held one.
public struct NodeProfile: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1

    public enum Limits {
        public static let displayNameMaxCharacters = 64
        public static let displayNameMaxBytes = 256
        public static let maxAddresses = 8
        public static let addressMaxBytes = 262
        public static let maxMailboxes = 3
        public static let maxArbiters = 16
        public static let maxLanguages = 8
        public static let languageMaxBytes = 16
        /// `expires_at` is at most this long after `updated_at`; a node re-signs its profile before.
        public static let maxLifetime: UInt64 = 90 * 24 * 3600
        public static let maxVersion: UInt64 = UInt64(UInt32.max)
    }

    public var version: UInt64
    public var updatedAt: UInt64
    public var expiresAt: UInt64
    public var displayName: String
    /// BLAKE2b-256 of an avatar image, or empty.
    public var avatarHash: [UInt8]
    /// Where this node accepts peer connections, as `host:port`.
    public var addresses: [HostPort]
    /// Node ids of the nodes that hold this node's mail while it is offline.
    public var mailboxes: [NodeID]
    /// Arbiter keys this node accepts for its trades.
    public var arbiters: [NodeID]
    /// Languages spoken, as BCP 47 tags (`en`, `de-CH`).
    public var languages: [String]

    public init(
        version: UInt64, updatedAt: UInt64, expiresAt: UInt64, displayName: String, avatarHash: [UInt8] = [],
        addresses: [HostPort] = [], mailboxes: [NodeID] = [], arbiters: [NodeID] = [], languages: [String] = []
    ) {
        self.version = version
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.displayName = displayName
        self.avatarHash = avatarHash
        self.addresses = addresses
        self.mailboxes = mailboxes
        self.arbiters = arbiters
        self.languages = languages
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.writeByte(Self.formatVersion)
        w.writeVarint(version)
        w.writeVarint(updatedAt)
        w.writeVarint(expiresAt)
        w.writeString(displayName)
        w.writeLengthPrefixed(avatarHash)
        w.writeVarint(UInt64(addresses.count))
        for a in addresses { w.writeString(a.description) }
        w.writeVarint(UInt64(mailboxes.count))
        for m in mailboxes { w.writeBytes(m.publicKey) }
        w.writeVarint(UInt64(arbiters.count))
        for a in arbiters { w.writeBytes(a.publicKey) }
        w.writeVarint(UInt64(languages.count))
        for l in languages { w.writeString(l) }
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .nodeProfile, format: Self.formatVersion) { r in
            try NodeProfile(fieldsOf: &r)
        }
        try validateFields()
    }

    /// The fields after the format byte, in wire order, with every count and length cap.
    private init(fieldsOf r: inout ByteReader) throws {
        version = try r.readVarint("version")
        updatedAt = try r.readVarint("updated_at")
        expiresAt = try r.readVarint("expires_at")
        displayName = try r.readString("display_name", maxBytes: Limits.displayNameMaxBytes)
        avatarHash = try r.readLengthPrefixed("avatar_hash", maxLength: 32)
        addresses = try Self.readList(&r, "addresses", max: Limits.maxAddresses) { r throws(DecodingError) in
            let text = try r.readString("address", maxBytes: Limits.addressMaxBytes)
            guard let hp = HostPort(text) else {
                throw DecodingError.invalidValue(field: "address", reason: "\"\(text)\" is not host:port")
            }
            return hp
        }
        mailboxes = try Self.readList(&r, "mailboxes", max: Limits.maxMailboxes) { r throws(DecodingError) in
            NodeID(publicKey: try r.readBytes(32, "mailbox"))!
        }
        arbiters = try Self.readList(&r, "arbiters", max: Limits.maxArbiters) { r throws(DecodingError) in
            NodeID(publicKey: try r.readBytes(32, "arbiter"))!
        }
        languages = try Self.readList(&r, "languages", max: Limits.maxLanguages) { r throws(DecodingError) in
            try r.readString("language", maxBytes: Limits.languageMaxBytes)
        }
    }

    private static func readList<T>(
        _ r: inout ByteReader, _ field: String, max: Int, _ read: (inout ByteReader) throws(DecodingError) -> T
    ) throws(DecodingError) -> [T] {
        let n = try r.readVarint("\(field) count")
        guard n <= UInt64(max) else { throw .tooLong(field: field, limit: max, actual: Int(clamping: n)) }
        var out: [T] = []
        for _ in 0..<n { out.append(try read(&r)) }
        return out
    }

    /// Checks every static rule (not the clock).
    public func validateFields() throws(ValidationError) {
        func refuse(_ message: String) -> ValidationError { ValidationError(.invalidProfile, message) }
        guard version >= 1, version <= Limits.maxVersion else {
            throw ValidationError(.invalidVersion, "version must be between 1 and \(Limits.maxVersion)")
        }
        guard !displayName.isEmpty, TextRules.characterCount(displayName, atMost: Limits.displayNameMaxCharacters),
            displayName.utf8.count <= Limits.displayNameMaxBytes, !TextRules.hasOuterWhitespace(displayName),
            !TextRules.hasControl(displayName, allowNewlines: false), !TextRules.hasSpoofingFormat(displayName)
        else {
            throw refuse(
                "display name must be 1 to \(Limits.displayNameMaxCharacters) characters without control characters or outer whitespace"
            )
        }
        guard avatarHash.isEmpty || avatarHash.count == 32 else {
            throw refuse("avatar hash must be empty or 32 bytes")
        }
        guard addresses.count <= Limits.maxAddresses, Set(addresses).count == addresses.count else {
            throw refuse("at most \(Limits.maxAddresses) distinct addresses")
        }
        guard mailboxes.count <= Limits.maxMailboxes, Set(mailboxes).count == mailboxes.count else {
            throw refuse("at most \(Limits.maxMailboxes) distinct mailbox nodes")
        }
        guard arbiters.count <= Limits.maxArbiters, Set(arbiters).count == arbiters.count else {
            throw refuse("at most \(Limits.maxArbiters) distinct arbiters")
        }
        guard languages.count <= Limits.maxLanguages, Set(languages).count == languages.count else {
            throw refuse("at most \(Limits.maxLanguages) distinct languages")
        }
        for l in languages where !Self.isLanguageTag(l) {
            throw refuse("language \"\(l)\" is not a tag such as en or de-CH")
        }
        guard updatedAt >= TimeRules.earliestTimestamp else {
            throw ValidationError(.invalidTimestamps, "updated_at is before 2020")
        }
        guard expiresAt > updatedAt, expiresAt - updatedAt <= Limits.maxLifetime else {
            throw ValidationError(.invalidTimestamps, "expires_at must be after updated_at and at most 90 days later")
        }
    }

    /// A BCP 47-shaped tag: 2–3 ASCII letters, then `-` subtags of 1–8 letters or digits; at most 16 bytes.
    static func isLanguageTag(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard s.utf8.count <= Limits.languageMaxBytes, let first = parts.first, (2...3).contains(first.count),
            first.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) })
        else { return false }
        return parts.dropFirst().allSatisfy { p in
            (1...8).contains(p.count)
                && p.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) }
        }
    }
}

extension ObjectKind {
    /// Kind 3: a node's profile (`NodeProfile`).
    public static let nodeProfile = ObjectKind(rawValue: 3, name: "node-profile")
}

extension NodeProfile: ObjectPayload {
    public static var kind: ObjectKind { .nodeProfile }
    public static var maxPayloadBytes: Int { 4_096 }

    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) {
        try validateFields()
        try TimeRules.check(updatedAt, "updated_at", now: now)
        try TimeRules.checkNotExpired(expiresAt, now: now, what: "profile")
    }

    public var timestamp: UInt64 { updatedAt }
    public var retainUntil: UInt64? { expiresAt }
    public var replaceableVersion: UInt64? { version }
}
