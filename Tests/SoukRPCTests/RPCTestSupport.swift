import Foundation
import Logging
import SoukCore
import SoukCrypto
import SoukNode
import SoukRPC
import SoukStore
import Testing

/// A logger that drops everything, so test output stays readable.
let quietLogger = Logger(label: "souk.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A clock tests can move; MarketNode reads it through a `@Sendable` closure.
/// (A lock rather than `Synchronization.Mutex`, which needs macOS 15 while the package targets macOS 14.)
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64

    init(_ start: UInt64 = 1_750_000_000) { value = start }

    var now: UInt64 { lock.withLock { value } }

    func advance(by seconds: UInt64) { lock.withLock { value += seconds } }

    var closure: @Sendable () -> UInt64 { { [self] in self.now } }
}

/// A node over an in-memory database with a fresh identity.
func makeNode(clock: TestClock? = nil) throws -> MarketNode {
    MarketNode(
        identity: SigningKey.generate(), database: try SoukDatabase.inMemory(), network: .testnet,
        clock: clock?.closure ?? MarketNode.systemClock, logger: quietLogger)
}

func makeDispatcher(node: MarketNode) -> RPCDispatcher {
    RPCDispatcher(methods: NodeRPC(node: node).methods)
}

enum RPCTestFailure: Error { case notJSON }

/// Sends raw text through the dispatcher and parses what comes back (`nil` = no response).
func dispatch(_ dispatcher: RPCDispatcher, _ text: String) async throws -> JSONValue? {
    guard let out = await dispatcher.handle(body: Array(text.utf8)) else { return nil }
    guard let value = JSONValue.parse(out) else {
        Issue.record("dispatcher answered with something that is not JSON: \(String(decoding: out, as: UTF8.self))")
        throw RPCTestFailure.notJSON
    }
    return value
}

/// A listing signed by some other key, as it would arrive from a peer.
func foreignListingEnvelope(
    by key: SigningKey, now: UInt64, title: String = "Foreign bike", category: String = "bikes"
) -> Envelope {
    let listing = Listing(
        salt: secureRandomBytes(ListingID.saltBytes), version: 1, createdAt: now, updatedAt: now,
        expiresAt: now + 86_400, title: title, description: "from a peer",
        price: Money(minorUnits: 5_000, currency: Currency(code: "EUR")!), category: category, location: "Berlin",
        country: "DE", quantity: 1, condition: .good, tags: [])
    return Envelope(kind: .listing, payload: listing.encoded(), signingKey: key)
}

/// The parameters of a minimal valid `listing.create`.
func bikeParams(_ overrides: [String: JSONValue] = [:]) -> JSONValue {
    var o: [String: JSONValue] = [
        "title": "Gazelle city bike", "price": "120.00", "currency": "EUR", "category": "bikes",
        "description": "Three gears, new tyres", "location": "Berlin Kreuzberg", "country": "DE",
        "condition": "good", "tags": ["city", "dutch"],
    ]
    for (k, v) in overrides { o[k] = v }
    return .object(o)
}

/// `Specs/openrpc.json` as it is in the source tree (parsed once).
func specDocument() throws -> JSONValue {
    try parsedSpecDocument.get()
}

struct SpecNotJSON: Error {}

private let parsedSpecDocument: Result<JSONValue, any Error> = Result {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Specs/openrpc.json")
    guard let doc = JSONValue.parse([UInt8](try Data(contentsOf: url))) else { throw SpecNotJSON() }
    return doc
}

/// Runs checks that need the document compiled into the build (`.embedInCode` of the spec file).
func withBundledDocument(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async throws {
    try await body()
}

/// The error codes `Specs/openrpc.json` lists for one method.
func documentedErrorCodes(_ method: String) throws -> Set<Int> {
    let doc = try specDocument()
    let m = try #require(doc["methods"]?.arrayValue?.first { $0["name"]?.stringValue == method })
    var codes: Set<Int> = []
    for e in m["errors"]?.arrayValue ?? [] {
        if let code = e["code"]?.intValue {
            codes.insert(Int(code))
        } else if let ref = e["$ref"]?.stringValue, ref.hasPrefix("#/components/errors/") {
            let name = String(ref.dropFirst("#/components/errors/".count))
            let code = try #require(doc["components"]?["errors"]?[name]?["code"]?.intValue, "dangling \(ref)")
            codes.insert(Int(code))
        }
    }
    return codes
}

// MARK: - A real server on loopback

/// One HTTP response as read off the wire.
struct HTTPResponse {
    var status: Int
    /// Header names lower-cased.
    var headers: [String: String]
    var body: [UInt8]

    var json: JSONValue? { JSONValue.parse(body) }
}

/// Splits raw bytes into the HTTP responses they hold (bodies delimited by Content-Length).
/// Interim `100 Continue` responses are returned too.
func parseHTTPResponses(_ raw: [UInt8]) -> [HTTPResponse] {
    var out: [HTTPResponse] = []
    var rest = raw[...]
    let sep: [UInt8] = [13, 10, 13, 10]
    while !rest.isEmpty {
        guard let end = rest.indices.dropLast(3).first(where: { Array(rest[$0..<$0 + 4]) == sep }) else { break }
        let head = String(decoding: rest[rest.startIndex..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { break }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                .trimmingCharacters(in: .whitespaces)
        }
        var bodyStart = end + 4
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        let bodyEnd = min(bodyStart + length, rest.endIndex)
        let body = Array(rest[bodyStart..<bodyEnd])
        bodyStart = bodyEnd
        out.append(HTTPResponse(status: status, headers: headers, body: body))
        rest = rest[bodyStart...]
    }
    return out
}

/// Runs blocking socket code on its own thread, so it never holds one of the (few) cooperative
/// threads the server needs to answer it.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try work() })
        }
        thread.start()
    }
}

/// A `RPCServer` bound to 127.0.0.1 on a free port, serving a fresh in-memory node.
struct LiveServer: Sendable {
    let node: MarketNode
    let server: RPCServer
    let credentials: String

    var port: Int { server.port }

    /// A client with the right cookie credentials.
    var client: RPCClient { client(credentials: credentials) }

    func client(credentials: String?) -> RPCClient {
        var c = RPCClient(host: "127.0.0.1", port: server.port, credentials: credentials)
        c.timeoutSeconds = 15
        return c
    }

    /// `RPCClient.call` off the cooperative pool.
    func call(_ method: String, _ params: JSONValue = .object([:])) async throws -> JSONValue {
        let c = client
        return try await offload { try c.call(method, params: params) }
    }

    /// Calls a method that must fail and returns its JSON-RPC error.
    func callError(_ method: String, _ params: JSONValue = .object([:])) async throws -> RPCError {
        do {
            let result = try await call(method, params)
            Issue.record("\(method) succeeded with \(result) but an error was expected")
            throw RPCError(code: 0, message: "unexpected success")
        } catch let e as RPCError {
            return e
        }
    }

    /// POSTs a body with the right credentials; returns status and body.
    func post(_ body: [UInt8], extraHeaders: [String] = []) async throws -> (status: Int, body: [UInt8]) {
        let c = client
        return try await offload { try c.post(body, extraHeaders: extraHeaders) }
    }

    /// Writes raw bytes to a fresh connection and returns everything read until the server closes.
    func exchange(_ bytes: [UInt8]) async throws -> [UInt8] {
        let c = client
        return try await offload { try c.exchange(bytes) }
    }

    func exchange(_ text: String) async throws -> [UInt8] { try await exchange(Array(text.utf8)) }

    /// `Authorization` header line with the right credentials.
    var authHeader: String { "Authorization: \(RPCAuth.header(credentials: credentials))\r\n" }
}

/// Starts a real server, runs `body` against it, then cancels the server and waits for it to stop.
func withLiveServer<T: Sendable>(
    clock: TestClock? = nil, _ body: (LiveServer) async throws -> T
) async throws -> T {
    let node = try makeNode(clock: clock)
    let credentials = "__cookie__:" + Hex.encode(secureRandomBytes(32))
    let server = try await RPCServer.bind(
        host: "127.0.0.1", port: 0, dispatcher: makeDispatcher(node: node), auth: RPCAuth(credentials: credentials),
        logger: quietLogger)
    #expect(server.port > 0)
    let task = Task { try await server.run() }
    let live = LiveServer(node: node, server: server, credentials: credentials)
    let result: Result<T, any Error>
    do {
        result = .success(try await body(live))
    } catch {
        result = .failure(error)
    }
    task.cancel()
    try await task.value
    return try result.get()
}
