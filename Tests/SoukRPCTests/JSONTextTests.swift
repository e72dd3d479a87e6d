import Foundation
import Testing

@testable import SoukRPC

@Suite("JSON text: strict, exact numbers")
struct JSONTextTests {
    @Test("big integers come back digit for digit; Int64 stays .int; fractions are doubles")
    func exactNumbers() throws {
        let text = #"{"id":18446744073709551615,"n":-9223372036854775808,"x":1.5,"y":123456789012345678901234567890}"#
        let v = try #require(JSONValue.parse(Array(text.utf8)))
        #expect(v["id"] == .bigInt("18446744073709551615"))
        #expect(v["n"] == .int(.min))
        #expect(v["x"] == .double(1.5))
        #expect(String(decoding: v.serialized, as: UTF8.self) == text)
    }

    @Test("a JSON-RPC id and a parameter beyond ±2^53 come back exactly as sent")
    func bigIDsEcho() async throws {
        let dispatcher = RPCDispatcher(methods: [RPCMethod("echo", parameters: ["n"]) { p in p.values["n"] ?? .null }])
        let request = #"{"jsonrpc":"2.0","id":18446744073709551615,"method":"echo","params":{"n":9007199254740993}}"#
        let out = String(decoding: try #require(await dispatcher.handle(body: Array(request.utf8))), as: UTF8.self)
        #expect(out == #"{"id":18446744073709551615,"jsonrpc":"2.0","result":9007199254740993}"#)
    }

    @Test(
        "malformed text is refused",
        arguments: [
            "{", "{\"a\":1}}", "[1,]", "{'a':1}", "01", "1.", "-", "\"\\x\"", "\"\u{01}\"", "tru", "[1 2]", "{\"a\" 1}",
            "\"\\ud800\"", "1e", "",
        ])
    func refused(text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == nil, "\(text)")
    }

    @Test("strings: escapes, surrogate pairs, invalid UTF-8 refused; nesting bounded")
    func strings() throws {
        #expect(JSONValue.parse(Array(#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#.utf8)) == .string("a\"b\\c/d\né😀"))
        #expect(JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) == nil, "invalid UTF-8")
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(JSONValue.parse(Array(deep.utf8)) == nil, "deeper than the limit")
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(JSONValue.parse(Array(ok.utf8)) != nil)
        #expect(JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8))?["a"] == .int(1), "the first duplicate wins")
    }
}
