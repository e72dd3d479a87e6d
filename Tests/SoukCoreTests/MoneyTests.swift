import SoukCore
import SoukCrypto
import Testing

@Suite("Currency table and Money parsing/formatting")
struct MoneyTests {
    static func currency(_ code: String) -> Currency { Currency(code: code)! }

    static let accepted: [(String, String, UInt64)] = [
        ("120.00", "EUR", 12_000),
        ("120", "EUR", 12_000),
        ("120.5", "EUR", 12_050),
        ("0.5", "EUR", 50),
        ("0.05", "EUR", 5),
        ("0", "EUR", 0),
        ("0.00", "EUR", 0),
        ("007.50", "EUR", 750),
        ("120", "JPY", 120),
        ("1", "BTC", 100_000_000),
        ("0.00000001", "BTC", 1),
        ("0.0015", "BTC", 150_000),
        ("21000000", "BTC", 2_100_000_000_000_000),
        ("90071992.54740991", "BTC", (1 << 53) - 1),
        ("150000", "SAT", 150_000),
        ("1.5", "ETH", 1_500_000_000),
        ("0.000000001", "ETH", 1),
        ("9007.199254740991", "XMR", (1 << 53) - 1),
        ("1.234", "KWD", 1_234),
        ("1.2345", "CLF", 12_345),
        ("9007199254740991", "JPY", (1 << 53) - 1),
        ("90071992547409.91", "EUR", (1 << 53) - 1),
    ]

    @Test("plain decimals parse into minor units", arguments: accepted)
    func parses(text: String, code: String, minor: UInt64) throws {
        let money = try Money(parsing: text, currency: Self.currency(code))
        #expect(money.minorUnits == minor)
        #expect(money.currency.code == code)
    }

    static let refused: [(String, String)] = [
        ("1.123", "EUR"),  // more decimals than the exponent
        ("120.5", "JPY"),
        ("0.000000001", "BTC"),
        ("1.0", "SAT"),
        ("-1", "EUR"),
        ("+1", "EUR"),
        ("1e3", "EUR"),
        ("1E3", "EUR"),
        ("", "EUR"),
        (".", "EUR"),
        (".5", "EUR"),
        ("1.", "EUR"),
        ("120.", "JPY"),
        (" 1", "EUR"),
        ("1 ", "EUR"),
        ("1,00", "EUR"),
        ("1.0.0", "EUR"),
        ("0x10", "EUR"),
        ("١٢", "EUR"),  // Arabic-Indic digits
        ("１２", "EUR"),  // full-width digits
        ("NaN", "EUR"),
        ("90071992547409.92", "EUR"),  // 2^53 minor units
        ("9007199254740992", "JPY"),
        ("90071992.54740992", "BTC"),
        ("18446744073709551615", "JPY"),  // fits UInt64, over 2^53 - 1
        ("18446744073709551616", "JPY"),  // overflows UInt64
        ("99999999999999999999999999", "EUR"),
        ("184467440737095516.15", "EUR"),
    ]

    @Test("anything but a plain decimal within range is invalid_price", arguments: refused)
    func refuses(text: String, code: String) {
        let c = Self.currency(code)
        #expect(refusal { () throws(ValidationError) in try Money(parsing: text, currency: c) } == .invalidPrice)
    }

    static let formatted: [(UInt64, String, String)] = [
        (12_000, "EUR", "120.00"),
        (5, "EUR", "0.05"),
        (50, "EUR", "0.50"),
        (0, "EUR", "0.00"),
        (100, "EUR", "1.00"),
        (120, "JPY", "120"),
        (0, "JPY", "0"),
        (150_000, "BTC", "0.00150000"),
        (1, "BTC", "0.00000001"),
        (100_000_000, "BTC", "1.00000000"),
        (150_000, "SAT", "150000"),
        (1_500_000_000, "ETH", "1.500000000"),
        ((1 << 53) - 1, "XMR", "9007.199254740991"),
        (1, "XMR", "0.000000000001"),
        (1_234, "KWD", "1.234"),
        (UInt64.max, "EUR", "184467440737095516.15"),
    ]

    @Test("decimalString has exactly `exponent` decimals", arguments: formatted)
    func formats(minor: UInt64, code: String, expected: String) throws {
        let money = Money(minorUnits: minor, currency: Self.currency(code))
        #expect(money.decimalString == expected)
        #expect(money.description == "\(expected) \(code)")
        if minor <= Money.maxMinorUnits {
            #expect(try Money(parsing: expected, currency: Self.currency(code)) == money, "round trip")
        }
    }

    @Test("the currency table: ISO 4217 exponents and the crypto units")
    func table() {
        let expected: [String: Int] = [
            "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
            "KWD": 3, "BHD": 3, "TND": 3, "CLF": 4, "UYW": 4,
            "BTC": 8, "SAT": 0, "LTC": 8, "ETH": 9, "XMR": 12,
        ]
        for (code, exponent) in expected {
            #expect(Currency(code: code)?.exponent == exponent, "\(code)")
        }
        #expect(Currency.table["BTC"] == 8)
        #expect(Money.maxMinorUnits == 9_007_199_254_740_991)
    }

    @Test("unknown or lower-case codes are not currencies", arguments: ["XYZ", "eur", "Eur", "", "EURO", "€", " EUR"])
    func unknownCodes(code: String) {
        #expect(Currency(code: code) == nil)
    }

    @Test("every code is three upper-case ASCII letters with an exponent of 0...12")
    func tableShape() {
        #expect(Currency.table.count > 150)
        for (code, exponent) in Currency.table {
            #expect(code.utf8.count == 3 && code.utf8.allSatisfy { $0 >= 65 && $0 <= 90 }, "\(code)")
            #expect([0, 2, 3, 4, 8, 9, 12].contains(exponent), "\(code)")
        }
    }
}
