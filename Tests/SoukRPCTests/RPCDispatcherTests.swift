import Foundation
import SoukNode
import SoukRPC
import Testing

/// Counts calls, so tests can see that notifications are executed.
final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var count: Int { lock.withLock { value } }
    func bump() { lock.withLock { value += 1 } }
}

struct Boom: Error {}

final class ErrorLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []
    var methods: [String] { lock.withLock { entries } }
    func record(_ method: String) { lock.withLock { entries.append(method) } }
}

/// JSON-RPC 2.0 handling without HTTP: bytes in, bytes (or nothing) out.
@Suite("RPCDispatcher")
struct RPCDispatcherTests {
    let counter = CallCounter()
    let errors = ErrorLog()

    /// `echo` returns its params; `touch` counts; `boom` throws a non-RPC error; `refuse` throws -32602.
    var dispatcher: RPCDispatcher {
        let counter = self.counter
        let errors = self.errors
        return RPCDispatcher(
            methods: [
                RPCMethod("echo", parameters: ["a", "b"]) { p in .object(p.values) },
                RPCMethod("touch") { _ in
                    counter.bump()
                    return "touched"
                },
                RPCMethod("boom") { _ in throw Boom() },
                RPCMethod("refuse", parameters: ["n"]) { p in
                    .int(try p.optionalInt("n", range: 1...10) ?? 0)
                },
            ],
            onError: { method, _ in errors.record(method) })
    }

    func send(_ text: String) async throws -> JSONValue? {
        try await dispatch(dispatcher, text)
    }

    /// Sends one request that must get an error; checks the envelope and returns the error object.
    func expectError(_ text: String, code: Int, id: JSONValue, sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> JSONValue
    {
        let response = try #require(try await send(text), "no response to \(text)", sourceLocation: sourceLocation)
        #expect(response["jsonrpc"] == "2.0", sourceLocation: sourceLocation)
        #expect(response["id"] == id, "id for \(text)", sourceLocation: sourceLocation)
        #expect(response["result"] == nil, sourceLocation: sourceLocation)
        let error = try #require(response["error"], "no error for \(text)", sourceLocation: sourceLocation)
        #expect(error["code"]?.intValue == Int64(code), "code for \(text): \(error)", sourceLocation: sourceLocation)
        #expect(error["message"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(response.objectValue?.count == 3, "exactly jsonrpc, id, error", sourceLocation: sourceLocation)
        return error
    }

    // MARK: Parse error

    @Test(
        "a body that is not JSON is -32700 with id null",
        arguments: [
            "{", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1", "[1,", "nope", "", "{\"a\":1}}", "{'a':1}",
        ])
    func parseError(body: String) async throws {
        _ = try await expectError(body, code: -32700, id: .null)
    }

    /// Deep nesting must be answered, not overflow the stack: the body limit allows 1 MiB of brackets.
    @Test func deeplyNestedBodyIsAnswered() async throws {
        let open = String(repeating: "[", count: RPCServer.maxBodyBytes)
        _ = try await expectError(open, code: -32700, id: .null)
        let closed = String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)
        let response = try #require(try await send(closed))
        let code = response["error"]?["code"] ?? response.arrayValue?.first?["error"]?["code"]
        #expect(code == -32700 || code == -32600)
        let objects = String(repeating: #"{"a":"#, count: 50_000) + "1" + String(repeating: "}", count: 50_000)
        let objectResponse = try #require(try await send(objects))
        let objectCode = objectResponse["error"]?["code"]
        #expect(objectCode == -32700 || objectCode == -32600)
    }

    @Test func invalidUTF8IsAParseError() async throws {
        let out = try #require(await dispatcher.handle(body: [0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]))
        let response = try #require(JSONValue.parse(out))
        #expect(response["error"]?["code"] == -32700)
        #expect(response["id"] == .null)
    }

    // MARK: Invalid Request

    @Test("a request that is not an object is -32600 with id null", arguments: ["1", "\"echo\"", "null", "true"])
    func notAnObject(body: String) async throws {
        _ = try await expectError(body, code: -32600, id: .null)
    }

    @Test func missingOrWrongJSONRPCVersion() async throws {
        _ = try await expectError(#"{"method":"echo","id":1}"#, code: -32600, id: 1)
        _ = try await expectError(#"{"jsonrpc":"1.0","method":"echo","id":2}"#, code: -32600, id: 2)
        _ = try await expectError(#"{"jsonrpc":2.0,"method":"echo","id":3}"#, code: -32600, id: 3)
        _ = try await expectError(#"{"jsonrpc":null,"method":"echo","id":"x"}"#, code: -32600, id: "x")
        #expect(counter.count == 0)
    }

    @Test func methodMustBeAString() async throws {
        _ = try await expectError(#"{"jsonrpc":"2.0","method":5,"id":1}"#, code: -32600, id: 1)
        _ = try await expectError(#"{"jsonrpc":"2.0","method":null,"id":2}"#, code: -32600, id: 2)
        _ = try await expectError(#"{"jsonrpc":"2.0","method":["echo"],"id":3}"#, code: -32600, id: 3)
        _ = try await expectError(#"{"jsonrpc":"2.0","id":4}"#, code: -32600, id: 4)
    }

    @Test(
        "an id that is not a string, number or null is -32600 with id null",
        arguments: [
            #"{}"#, #"{"a":1}"#, "true", "false", "[1]",
        ])
    func idOfWrongType(id: String) async throws {
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"touch","id":\#(id)}"#, code: -32600, id: .null)
        #expect(counter.count == 0, "a request with a bad id must not run")
    }

    @Test("params that are neither object nor array are -32600", arguments: [#""a""#, "3", "true", "1.5"])
    func paramsOfWrongType(params: String) async throws {
        let error = try await expectError(
            #"{"jsonrpc":"2.0","method":"touch","params":\#(params),"id":9}"#, code: -32600, id: 9)
        #expect(error["message"]?.stringValue?.contains("params") == true)
        #expect(counter.count == 0)
    }

    @Test func unexpectedMemberIsRefused() async throws {
        let error = try await expectError(
            #"{"jsonrpc":"2.0","method":"touch","id":1,"extra":true}"#, code: -32600, id: 1)
        #expect(error["message"]?.stringValue?.contains("extra") == true)
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"touch","id":2,"Params":{}}"#, code: -32600, id: 2)
        #expect(counter.count == 0)
    }

    // MARK: Method not found

    @Test func unknownMethod() async throws {
        let error = try await expectError(#"{"jsonrpc":"2.0","method":"nope.nothing","id":"q"}"#, code: -32601, id: "q")
        #expect(error["data"]?["method"] == "nope.nothing")
        // Method names are exact: no case folding.
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"ECHO","id":1}"#, code: -32601, id: 1)
    }

    // MARK: Invalid params

    @Test func unknownParameterByName() async throws {
        let error = try await expectError(
            #"{"jsonrpc":"2.0","method":"echo","params":{"a":1,"zzz":2},"id":1}"#, code: -32602, id: 1)
        #expect(error["data"]?["reason"] == "unknown_parameter")
        #expect(error["data"]?["field"] == "zzz")
        let none = try await expectError(
            #"{"jsonrpc":"2.0","method":"touch","params":{"x":1},"id":2}"#, code: -32602, id: 2)
        #expect(none["data"]?["field"] == "x")
        #expect(counter.count == 0)
    }

    @Test func tooManyPositionalParameters() async throws {
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"echo","params":[1,2,3],"id":1}"#, code: -32602, id: 1)
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"touch","params":[1],"id":2}"#, code: -32602, id: 2)
        #expect(counter.count == 0)
    }

    @Test func wrongTypeAndOutOfRange() async throws {
        let wrong = try await expectError(
            #"{"jsonrpc":"2.0","method":"refuse","params":{"n":"5"},"id":1}"#, code: -32602, id: 1)
        #expect(wrong["data"]?["field"] == "n")
        #expect(wrong["message"]?.stringValue?.contains("integer") == true)
        _ = try await expectError(
            #"{"jsonrpc":"2.0","method":"refuse","params":{"n":2.5},"id":2}"#, code: -32602, id: 2)
        let high = try await expectError(
            #"{"jsonrpc":"2.0","method":"refuse","params":{"n":11},"id":3}"#, code: -32602, id: 3)
        #expect(high["message"]?.stringValue?.contains("between 1 and 10") == true)
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"refuse","params":[0],"id":4}"#, code: -32602, id: 4)
        let ok = try #require(try await send(#"{"jsonrpc":"2.0","method":"refuse","params":{"n":10},"id":5}"#))
        #expect(ok["result"] == 10)
    }

    @Test func nodeMethodsRefuseBadParams() async throws {
        let d = makeDispatcher(node: try makeNode())
        func error(_ text: String) async throws -> JSONValue {
            let r = try #require(try await dispatch(d, text))
            return try #require(r["error"], "expected an error for \(text), got \(r)")
        }
        let wrongType = try await error(#"{"jsonrpc":"2.0","method":"listing.get","params":{"listing_id":5},"id":1}"#)
        #expect(wrongType["code"] == -32602)
        #expect(wrongType["data"]?["field"] == "listing_id")
        let badID = try await error(#"{"jsonrpc":"2.0","method":"listing.get","params":["abc"],"id":1}"#)
        #expect(badID["data"]?["reason"] == "invalid_listing_id")
        let missing = try await error(#"{"jsonrpc":"2.0","method":"listing.get","params":{},"id":1}"#)
        #expect(missing["code"] == -32602)
        #expect(missing["data"]?["field"] == "listing_id")
        for limit in ["0", "101", "-1", "\"20\""] {
            let e = try await error(#"{"jsonrpc":"2.0","method":"listing.search","params":{"limit":\#(limit)},"id":1}"#)
            #expect(e["code"] == -32602, "limit \(limit)")
            #expect(e["data"]?["field"] == "limit")
        }
        let sort = try await error(#"{"jsonrpc":"2.0","method":"listing.search","params":{"sort":"cheapest"},"id":1}"#)
        #expect(sort["data"]?["field"] == "sort")
        let tags = try await error(
            #"{"jsonrpc":"2.0","method":"listing.create","params":{"title":"t","price":"1","currency":"EUR","category":"c","tags":["a",1]},"id":1}"#
        )
        #expect(tags["data"]?["field"] == "tags")
        let info = try await error(#"{"jsonrpc":"2.0","method":"node.info","params":{"verbose":true},"id":1}"#)
        #expect(info["data"]?["reason"] == "unknown_parameter")
    }

    // MARK: Ids

    @Test(
        "string, number and null ids are echoed exactly",
        arguments: [
            #""abc""#, #""""#, #""\u00e9 \"q\"""#, "0", "7", "-3", "1.5", "9007199254740993", "-9223372036854775808",
            "null",
        ])
    func idsAreEchoed(id: String) async throws {
        let expected = try #require(JSONValue.parse(Array(id.utf8)))
        let response = try #require(try await send(#"{"jsonrpc":"2.0","method":"echo","params":{"a":1},"id":\#(id)}"#))
        #expect(response["id"] == expected)
        #expect(response["result"] == ["a": 1])
        #expect(response["error"] == nil)
        // The serialized id is the same text the client sent.
        let echoedText = String(decoding: try #require(response["id"]).serialized, as: UTF8.self)
        #expect(echoedText == String(decoding: expected.serialized, as: UTF8.self))
    }

    @Test func largeIntegerIDIsNotRounded() async throws {
        let out = try #require(
            await dispatcher.handle(body: Array(#"{"jsonrpc":"2.0","method":"touch","id":9007199254740993}"#.utf8)))
        #expect(String(decoding: out, as: UTF8.self).contains("9007199254740993"))
    }

    @Test func errorsEchoTheID() async throws {
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"nope","id":"s-1"}"#, code: -32601, id: "s-1")
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"nope","id":null}"#, code: -32601, id: .null)
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"echo","params":"x","id":42}"#, code: -32600, id: 42)
    }

    @Test func nullParamsAreAnInvalidRequest() async throws {
        // params, when present, must be an object or an array (JSON-RPC 2.0 §4.2).
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"touch","params":null,"id":7}"#, code: -32600, id: 7)
        #expect(counter.count == 0)
    }

    // MARK: Notifications

    @Test func notificationIsExecutedButNotAnswered() async throws {
        #expect(try await send(#"{"jsonrpc":"2.0","method":"touch"}"#) == nil)
        #expect(try await send(#"{"jsonrpc":"2.0","method":"touch","params":[]}"#) == nil)
        #expect(counter.count == 2)
    }

    @Test(
        "a failing notification gets no response",
        arguments: [
            #"{"jsonrpc":"2.0","method":"nope"}"#,
            #"{"jsonrpc":"2.0","method":"echo","params":{"zzz":1}}"#,
            #"{"jsonrpc":"2.0","method":"echo","params":[1,2,3]}"#,
            #"{"jsonrpc":"2.0","method":"refuse","params":{"n":99}}"#,
            #"{"jsonrpc":"2.0","method":"boom"}"#,
            #"{"jsonrpc":"2.0","method":"touch","params":"x"}"#,
        ])
    func failingNotification(body: String) async throws {
        #expect(try await send(body) == nil)
        #expect(counter.count == 0)
    }

    @Test func idNullIsNotANotification() async throws {
        let r = try #require(try await send(#"{"jsonrpc":"2.0","method":"touch","id":null}"#))
        #expect(r["id"] == .null)
        #expect(r["result"] == "touched")
    }

    // MARK: Internal error

    @Test func unexpectedFailureIsInternalErrorAndReported() async throws {
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"boom","id":1}"#, code: -32603, id: 1)
        #expect(errors.methods == ["boom"])
        // RPCErrors are the method's answer, not a failure to report.
        _ = try await expectError(#"{"jsonrpc":"2.0","method":"refuse","params":[50],"id":2}"#, code: -32602, id: 2)
        #expect(errors.methods == ["boom"])
    }

    // MARK: Positional params

    @Test func positionalParamsMapOntoDeclaredNames() async throws {
        let both = try #require(try await send(#"{"jsonrpc":"2.0","method":"echo","params":["x",2],"id":1}"#))
        #expect(both["result"] == ["a": "x", "b": 2])
        let one = try #require(try await send(#"{"jsonrpc":"2.0","method":"echo","params":["x"],"id":2}"#))
        #expect(one["result"] == ["a": "x"])
        let none = try #require(try await send(#"{"jsonrpc":"2.0","method":"echo","params":[],"id":3}"#))
        #expect(none["result"] == [:])
        let byName = try #require(try await send(#"{"jsonrpc":"2.0","method":"echo","params":{"b":true},"id":4}"#))
        #expect(byName["result"] == ["b": true])
        let omitted = try #require(try await send(#"{"jsonrpc":"2.0","method":"echo","id":5}"#))
        #expect(omitted["result"] == [:])
        // Null in a position means "absent" to the typed getters.
        let ranged = try #require(try await send(#"{"jsonrpc":"2.0","method":"refuse","params":[null],"id":6}"#))
        #expect(ranged["result"] == 0)
    }

    @Test func positionalParamsForNodeMethods() async throws {
        let node = try makeNode()
        let d = makeDispatcher(node: node)
        let created = try #require(
            try await dispatch(
                d,
                #"{"jsonrpc":"2.0","method":"listing.create","params":["Old lamp","brass","15.50","EUR","lamps"],"id":1}"#
            ))
        let listing = try #require(created["result"], "\(created)")
        #expect(listing["title"] == "Old lamp")
        #expect(listing["description"] == "brass")
        #expect(listing["price"] == "15.50")
        #expect(listing["price_minor"] == 1550)
        #expect(listing["category"] == "lamps")
        #expect(listing["condition"] == "good")
        #expect(listing["quantity"] == 1)
        let id = try #require(listing["listing_id"]?.stringValue)
        let got = try #require(
            try await dispatch(
                d, #"{"jsonrpc":"2.0","method":"listing.get","params":["\#(id)"],"id":2}"#))
        #expect(got["result"]?["listing_id"] == .string(id))
        let search = try #require(
            try await dispatch(
                d, #"{"jsonrpc":"2.0","method":"listing.search","params":["lamp",null,"EUR","10","20"],"id":3}"#))
        #expect(search["result"]?["results"]?.arrayValue?.count == 1)
    }

    // MARK: Batches

    @Test func batchAnswersEachElementInOrder() async throws {
        let body = """
            [
              {"jsonrpc":"2.0","method":"echo","params":{"a":1},"id":"first"},
              1,
              {"jsonrpc":"2.0","method":"touch"},
              {"jsonrpc":"2.0","method":"nope","id":3},
              {"jsonrpc":"1.0","method":"echo","id":4},
              {"jsonrpc":"2.0","method":"nope"},
              {"jsonrpc":"2.0","method":"echo","params":["z"],"id":5},
              {"jsonrpc":"2.0","method":"echo","params":{"q":1},"id":6}
            ]
            """
        let response = try #require(try await send(body))
        let items = try #require(response.arrayValue, "a batch is answered with an array")
        #expect(items.count == 6)
        guard items.count == 6 else { return }
        #expect(items[0]["id"] == "first")
        #expect(items[0]["result"] == ["a": 1])
        #expect(items[1]["id"] == .null)
        #expect(items[1]["error"]?["code"] == -32600)
        #expect(items[2]["id"] == 3)
        #expect(items[2]["error"]?["code"] == -32601)
        #expect(items[3]["id"] == 4)
        #expect(items[3]["error"]?["code"] == -32600)
        #expect(items[4]["id"] == 5)
        #expect(items[4]["result"] == ["a": "z"])
        #expect(items[5]["id"] == 6)
        #expect(items[5]["error"]?["code"] == -32602)
        #expect(counter.count == 1, "the notification in the batch ran")
    }

    @Test func batchOfInvalidElements() async throws {
        let response = try #require(try await send("[1,2,3]"))
        let items = try #require(response.arrayValue)
        #expect(items.count == 3)
        #expect(items.allSatisfy { $0["error"]?["code"] == -32600 && $0["id"] == .null })
    }

    @Test func emptyBatchIsOneInvalidRequest() async throws {
        let response = try #require(try await send("[]"))
        #expect(response.arrayValue == nil, "an empty batch gets a single response, not an array")
        #expect(response["error"]?["code"] == -32600)
        #expect(response["id"] == .null)
    }

    @Test func batchOfOnlyNotificationsGetsNothing() async throws {
        let out = await dispatcher.handle(
            body: Array(
                #"[{"jsonrpc":"2.0","method":"touch"},{"jsonrpc":"2.0","method":"nope"},{"jsonrpc":"2.0","method":"touch"}]"#
                    .utf8))
        #expect(out == nil)
        #expect(counter.count == 2)
    }

    @Test func oversizedBatchIsOneInvalidRequest() async throws {
        let element = #"{"jsonrpc":"2.0","method":"touch","id":1}"#
        let body = "[" + Array(repeating: element, count: RPCDispatcher.maxBatchSize + 1).joined(separator: ",") + "]"
        let response = try #require(try await send(body))
        #expect(response["error"]?["code"] == -32600)
        #expect(counter.count == 0, "nothing in an oversized batch runs")
        let atLimit = "[" + Array(repeating: element, count: RPCDispatcher.maxBatchSize).joined(separator: ",") + "]"
        #expect(try await send(atLimit)?.arrayValue?.count == RPCDispatcher.maxBatchSize)
    }

    @Test func responseIsCompactJSONWithOnlyResultOrError() async throws {
        let ok = try #require(try await send(#"{"jsonrpc":"2.0","method":"touch","id":1}"#))
        #expect(Set(ok.objectValue?.keys.map { $0 } ?? []) == ["jsonrpc", "id", "result"])
    }
}
