/// A currency code and the number of decimal places of its minor unit.
///
/// ISO 4217 codes carry their ISO exponent. Crypto units carry their own:
/// `BTC` (8, satoshi), `SAT` (0), `LTC` (8), `ETH` (9, minor unit gwei), `XMR` (12, piconero).
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let exponent: Int

    /// Looks a code up (case-sensitive, upper case); `nil` if Souk does not know it.
    public init?(code: String) {
        guard let e = Currency.table[code] else { return nil }
        self.code = code
        self.exponent = e
    }

    public var description: String { code }

    /// Every known code with its exponent.
    public static let table: [String: Int] = {
        var t: [String: Int] = [:]
        let two = """
            AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF \
            CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF \
            IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR \
            MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD \
            SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR \
            ZMW ZWG
            """
        for c in two.split(separator: " ") { t[String(c)] = 2 }
        for c in "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(separator: " ") {
            t[String(c)] = 0
        }
        for c in "BHD IQD JOD KWD LYD OMR TND".split(separator: " ") { t[String(c)] = 3 }
        for c in "CLF UYW".split(separator: " ") { t[String(c)] = 4 }
        t["BTC"] = 8
        t["SAT"] = 0
        t["LTC"] = 8
        t["ETH"] = 9
        t["XMR"] = 12
        return t
    }()
}

/// An amount in integer minor units of one currency.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    /// Largest accepted amount in minor units: 2^53 − 1, so JSON numbers stay exact.
    public static let maxMinorUnits: UInt64 = (1 << 53) - 1

    public let minorUnits: UInt64
    public let currency: Currency

    public init(minorUnits: UInt64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// Parses a decimal such as `"120.00"` or `"120"` into minor units.
    /// - Throws: `ValidationError` (`.invalidPrice`) for signs, exponents, too many decimals or overflow.
    public init(parsing text: String, currency: Currency) throws(ValidationError) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let frac = parts.count > 1 ? parts[1] : ""
        let isDigits: (Substring) -> Bool = { $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard !whole.isEmpty, isDigits(whole), isDigits(frac), !(parts.count > 1 && frac.isEmpty) else {
            throw ValidationError(.invalidPrice, "price \"\(text)\" is not a plain decimal number such as 120.00")
        }
        guard frac.count <= currency.exponent else {
            throw ValidationError(
                .invalidPrice, "price \"\(text)\" has more than \(currency.exponent) decimals for \(currency.code)")
        }
        let digits = String(whole) + String(frac) + String(repeating: "0", count: currency.exponent - frac.count)
        guard let value = UInt64(digits), value <= Money.maxMinorUnits else {
            throw ValidationError(.invalidPrice, "price \"\(text)\" is too large")
        }
        self.init(minorUnits: value, currency: currency)
    }

    /// The amount as a decimal string with exactly `exponent` decimals, e.g. `"120.00"`.
    public var decimalString: String {
        let e = currency.exponent
        guard e > 0 else { return String(minorUnits) }
        var digits = String(minorUnits)
        if digits.count <= e { digits = String(repeating: "0", count: e - digits.count + 1) + digits }
        let split = digits.index(digits.endIndex, offsetBy: -e)
        return digits[..<split] + "." + digits[split...]
    }

    public var description: String { "\(decimalString) \(currency.code)" }
}
