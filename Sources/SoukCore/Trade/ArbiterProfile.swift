/// An arbiter's public offer (`Specs/trade.md` §2), kind 4 `arbiter-profile`: gossiped to everyone,
/// one per arbiter key, a higher version replaces the held one. Buyers pick an arbiter the seller
/// accepts (the seller's node profile lists them) from these.
///
/// Layout: `0x01 | varint version | varint updated_at | varint expires_at | string display_name |
/// varint fee_basis_points | varint n | n × (string currency | varint min_fee | varint min_amount |
/// varint max_amount) | varint n | n × string language | string terms | varint response_hours`.
public struct ArbiterProfile: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1
    public enum Limits {
        public static let displayNameMaxCharacters = 64
        public static let displayNameMaxBytes = 256
        public static let maxCurrencies = 16
        public static let maxLanguages = 8
        public static let termsMaxBytes = 4_096
        public static let maxFeeBasisPoints: UInt64 = 5_000
        public static let maxResponseHours: UInt64 = 24 * 30
        public static let maxLifetime: UInt64 = 90 * 24 * 3600
        public static let maxVersion: UInt64 = UInt64(UInt32.max)
    }

    /// What the arbiter takes on in one currency.
    public struct CurrencyTerms: Sendable, Equatable {
        public var currency: String
        /// The fee is max(min_fee, amount × fee_basis_points / 10 000), in minor units.
        public var minFee: UInt64
        public var minAmount: UInt64
        public var maxAmount: UInt64

        public init(currency: String, minFee: UInt64, minAmount: UInt64, maxAmount: UInt64) {
            self.currency = currency
            self.minFee = minFee
            self.minAmount = minAmount
            self.maxAmount = maxAmount
        }
    }

    public var version: UInt64
    public var updatedAt: UInt64
    public var expiresAt: UInt64
    public var displayName: String
    public var feeBasisPoints: UInt64
    public var currencies: [CurrencyTerms]
    public var languages: [String]
    public var terms: String
    /// How soon the arbiter promises to acknowledge and to answer, in hours.
    public var responseHours: UInt64

    public init(
        version: UInt64, updatedAt: UInt64, expiresAt: UInt64, displayName: String, feeBasisPoints: UInt64,
        currencies: [CurrencyTerms], languages: [String], terms: String, responseHours: UInt64
    ) {
        self.version = version
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.displayName = displayName
        self.feeBasisPoints = feeBasisPoints
        self.currencies = currencies
        self.languages = languages
        self.terms = terms
        self.responseHours = responseHours
    }

    /// The fee for a trade of `amount` in `currency`, or `nil` when the arbiter does not take it
    /// (another currency, or the amount outside its limits).
    public func fee(amount: UInt64, currency: String) -> UInt64? {
        guard let t = currencies.first(where: { $0.currency == currency }), amount >= t.minAmount,
            amount <= t.maxAmount
        else { return nil }
        let (product, overflow) = amount.multipliedReportingOverflow(by: feeBasisPoints)
        let proportional = overflow ? amount / 10_000 * feeBasisPoints : product / 10_000
        return min(amount, max(t.minFee, proportional))
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 256 + terms.utf8.count)
        w.writeByte(Self.formatVersion)
        w.writeVarint(version)
        w.writeVarint(updatedAt)
        w.writeVarint(expiresAt)
        w.writeString(displayName)
        w.writeVarint(feeBasisPoints)
        w.writeVarint(UInt64(currencies.count))
        for c in currencies {
            w.writeString(c.currency)
            w.writeVarint(c.minFee)
            w.writeVarint(c.minAmount)
            w.writeVarint(c.maxAmount)
        }
        w.writeVarint(UInt64(languages.count))
        for l in languages { w.writeString(l) }
        w.writeString(terms)
        w.writeVarint(responseHours)
        return w.bytes
    }

    public init(decoding payload: [UInt8]) throws(ValidationError) {
        self = try PayloadReader.read(payload, kind: .arbiterProfile, format: Self.formatVersion) { r in
            let version = try r.readVarint("version")
            let updatedAt = try r.readVarint("updated_at")
            let expiresAt = try r.readVarint("expires_at")
            let name = try r.readString("display_name", maxBytes: Limits.displayNameMaxBytes)
            let fee = try r.readVarint("fee_basis_points")
            let n = try r.readVarint("currencies count")
            guard n <= UInt64(Limits.maxCurrencies) else {
                throw DecodingError.tooLong(field: "currencies", limit: Limits.maxCurrencies, actual: Int(clamping: n))
            }
            var currencies: [CurrencyTerms] = []
            for _ in 0..<n {
                currencies.append(
                    CurrencyTerms(
                        currency: try r.readString("currency", maxBytes: 8), minFee: try r.readVarint("min_fee"),
                        minAmount: try r.readVarint("min_amount"), maxAmount: try r.readVarint("max_amount")))
            }
            let m = try r.readVarint("languages count")
            guard m <= UInt64(Limits.maxLanguages) else {
                throw DecodingError.tooLong(field: "languages", limit: Limits.maxLanguages, actual: Int(clamping: m))
            }
            var languages: [String] = []
            for _ in 0..<m { languages.append(try r.readString("language", maxBytes: 16)) }
            let terms = try r.readString("terms", maxBytes: Limits.termsMaxBytes)
            let hours = try r.readVarint("response_hours")
            return ArbiterProfile(
                version: version, updatedAt: updatedAt, expiresAt: expiresAt, displayName: name, feeBasisPoints: fee,
                currencies: currencies, languages: languages, terms: terms, responseHours: hours)
        }
        try validateFields()
    }

    public func validateFields() throws(ValidationError) {
        func refuse(_ m: String) -> ValidationError { ValidationError(.invalidArbiterProfile, m) }
        guard version >= 1, version <= Limits.maxVersion else {
            throw ValidationError(.invalidVersion, "version must be between 1 and \(Limits.maxVersion)")
        }
        guard !displayName.isEmpty, TextRules.characterCount(displayName, atMost: Limits.displayNameMaxCharacters),
            !TextRules.hasOuterWhitespace(displayName), !TextRules.hasControl(displayName, allowNewlines: false),
            !TextRules.hasSpoofingFormat(displayName), TextRules.hasVisibleCharacter(displayName)
        else { throw refuse("display name must be 1 to 64 characters without control characters or outer whitespace") }
        guard feeBasisPoints <= Limits.maxFeeBasisPoints else {
            throw refuse("fee must be at most \(Limits.maxFeeBasisPoints / 100) %")
        }
        guard !currencies.isEmpty else { throw refuse("an arbiter names at least one currency it takes") }
        guard Set(currencies.map(\.currency)).count == currencies.count else {
            throw refuse("each currency at most once")
        }
        for c in currencies {
            guard Currency(code: c.currency) != nil else { throw refuse("unknown currency \(c.currency)") }
            guard c.minAmount <= c.maxAmount, c.maxAmount <= Money.maxMinorUnits, c.minFee <= Money.maxMinorUnits else {
                throw refuse("\(c.currency): min_amount must not exceed max_amount")
            }
        }
        guard Set(languages).count == languages.count, languages.allSatisfy(NodeProfile.isLanguageTag) else {
            throw refuse("languages must be distinct tags such as en or de-CH")
        }
        guard !TextRules.hasControl(terms, allowNewlines: true) else {
            throw refuse("terms must not contain control characters")
        }
        guard responseHours >= 1, responseHours <= Limits.maxResponseHours else {
            throw refuse("response time must be 1 to \(Limits.maxResponseHours) hours")
        }
        guard updatedAt >= TimeRules.earliestTimestamp else {
            throw ValidationError(.invalidTimestamps, "updated_at is before 2020")
        }
        guard expiresAt > updatedAt, expiresAt - updatedAt <= Limits.maxLifetime else {
            throw ValidationError(.invalidTimestamps, "expires_at must be after updated_at and at most 90 days later")
        }
    }
}

extension ObjectKind {
    /// Kind 4: an arbiter's public offer (`ArbiterProfile`).
    public static let arbiterProfile = ObjectKind(rawValue: 4, name: "arbiter-profile")
}

extension ArbiterProfile: ObjectPayload {
    public static var kind: ObjectKind { .arbiterProfile }
    public static var maxPayloadBytes: Int { 8_192 }
    public func validate(signer: [UInt8], now: UInt64) throws(ValidationError) {
        try TimeRules.check(updatedAt, "updated_at", now: now)
        try TimeRules.checkNotExpired(expiresAt, now: now, what: "arbiter profile")
    }
    public var timestamp: UInt64 { updatedAt }
    public var retainUntil: UInt64? { expiresAt }
    public var replaceableVersion: UInt64? { version }
}
