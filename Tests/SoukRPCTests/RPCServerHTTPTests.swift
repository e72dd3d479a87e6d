import Foundation
import SoukCore
import SoukCrypto
import SoukNode
import SoukRPC
import SoukStore
import Testing

/// Builds one raw HTTP/1.1 request.
func rawRequest(
    method: String = "POST", path: String = "/", auth: String?, body: [UInt8] = [], headers: [String] = [],
    close: Bool = true, contentLength: Int? = nil
) -> [UInt8] {
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if let auth { head += auth }
    if !body.isEmpty || contentLength != nil {
        head += "Content-Type: application/json\r\nContent-Length: \(contentLength ?? body.count)\r\n"
    }
    for h in headers { head += h + "\r\n" }
    if close { head += "Connection: close\r\n" }
    head += "\r\n"
    return Array(head.utf8) + body
}

func rpcRequest(_ method: String, _ params: JSONValue? = nil, id: JSONValue? = 1) -> JSONValue {
    var o: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
    if let params { o["params"] = params }
    if let id { o["id"] = id }
    return .object(o)
}

/// The JSON-RPC server over real HTTP on loopback.
@Suite("RPCServer over HTTP")
struct RPCServerHTTPTests {

    // MARK: Transport refusals

    @Test func missingOrWrongCredentialsAre401AndChangeNothing() async throws {
        try await withLiveServer { s in
            let create = rpcRequest("listing.create", bikeParams()).serialized
            let secret = String(s.credentials.dropFirst("__cookie__:".count))
            for creds in [nil, "__cookie__:wrong", "__cookie__:", "someone:\(secret)", secret, s.credentials + "x"] {
                let c = s.client(credentials: creds)
                let (status, _) = try await offload { try c.post(create) }
                #expect(status == 401, "credentials \(creds ?? "none")")
            }
            // Malformed Authorization headers.
            for header in [
                "Authorization: Bearer \(secret)", "Authorization: Basic !!!", "Authorization: Basic",
                "Authorization: \(s.credentials)",
            ] {
                let raw = try await s.exchange(rawRequest(auth: nil, body: create, headers: [header]))
                let response = try #require(parseHTTPResponses(raw).first)
                #expect(response.status == 401, "\(header)")
                #expect(response.headers["www-authenticate"] == "Basic realm=\"souk\"")
                #expect(response.json?["jsonrpc"] == nil, "no JSON-RPC processing happened")
            }
            // The client maps 401 to a clear error.
            let wrong = s.client(credentials: "__cookie__:wrong")
            await #expect(throws: RPCClient.ClientError.self) {
                try await offload { try wrong.call("node.info") }
            }
            // Nothing was created.
            #expect(try await s.call("listing.mine")["listings"] == [])
            #expect(try await s.node.myListings().isEmpty)
            #expect(try await s.call("node.info")["listings"]?["active"] == 0)
            // The right credentials work, with any case of the scheme.
            let ok = try await s.exchange(
                rawRequest(
                    auth: "Authorization: basic \(Data(s.credentials.utf8).base64EncodedString())\r\n",
                    body: rpcRequest("node.info").serialized))
            #expect(parseHTTPResponses(ok).first?.status == 200)
        }
    }

    @Test func otherPathsAre404() async throws {
        try await withLiveServer { s in
            for path in ["/rpc", "/favicon.ico", "//", "/%2F"] {
                let raw = try await s.exchange(
                    rawRequest(
                        path: path, auth: s.authHeader, body: rpcRequest("listing.create", bikeParams()).serialized))
                #expect(parseHTTPResponses(raw).first?.status == 404, "path \(path)")
            }
            #expect(try await s.node.myListings().isEmpty, "a request to another path is not executed")
            // A query string on / is still /.
            let q = try await s.exchange(
                rawRequest(
                    path: "/?x=1", auth: s.authHeader, body: rpcRequest("node.info").serialized))
            #expect(parseHTTPResponses(q).first?.status == 200)
        }
    }

    @Test func otherMethodsAre405() async throws {
        try await withLiveServer { s in
            for method in ["GET", "PUT", "DELETE", "OPTIONS"] {
                let raw = try await s.exchange(rawRequest(method: method, auth: s.authHeader))
                let response = try #require(parseHTTPResponses(raw).first, "\(method)")
                #expect(response.status == 405, "\(method)")
                #expect(response.headers["allow"] == "POST")
            }
        }
    }

    @Test func declaredBodyOverOneMiBIs413WithoutReadingIt() async throws {
        try await withLiveServer { s in
            // Only the head and a few body bytes are sent; the server must answer without the rest.
            let partial = Array(#"{"jsonrpc":"2.0","method":"node.info","#.utf8)
            let started = ContinuousClock.now
            let raw = try await s.exchange(
                rawRequest(
                    auth: s.authHeader, body: partial, close: false, contentLength: RPCServer.maxBodyBytes + 1))
            let elapsed = ContinuousClock.now - started
            let response = try #require(parseHTTPResponses(raw).first, "no answer before the body was complete")
            #expect(response.status == 413)
            #expect(response.headers["connection"] == "close")
            #expect(elapsed < .seconds(10), "answered at once, not after the client timeout")
            // An absurd declared size too.
            let huge = try await s.exchange(
                rawRequest(
                    auth: s.authHeader, body: partial, close: false, contentLength: Int(Int32.max)))
            #expect(parseHTTPResponses(huge).first?.status == 413)
        }
    }

    @Test func chunkedBodyOverOneMiBIs413() async throws {
        try await withLiveServer { s in
            var bytes = rawRequest(auth: s.authHeader, headers: ["Transfer-Encoding: chunked"], close: false)
            let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 64 * 1024)
            // 17 chunks of 64 KiB: 1 MiB + 64 KiB.
            for _ in 0..<17 {
                bytes += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8)
            }
            bytes += Array("0\r\n\r\n".utf8)
            let raw = try await s.exchange(bytes)
            let response = try #require(parseHTTPResponses(raw).first)
            #expect(response.status == 413)
        }
    }

    @Test func chunkedBodyAtTheLimitIsServed() async throws {
        try await withLiveServer { s in
            var json = rpcRequest("node.info", id: "chunked").serialized
            json += [UInt8](repeating: UInt8(ascii: " "), count: RPCServer.maxBodyBytes - json.count)
            var bytes = rawRequest(auth: s.authHeader, headers: ["Transfer-Encoding: chunked"])
            var offset = 0
            while offset < json.count {
                let n = min(100_000, json.count - offset)
                bytes += Array("\(String(n, radix: 16))\r\n".utf8) + json[offset..<offset + n] + Array("\r\n".utf8)
                offset += n
            }
            bytes += Array("0\r\n\r\n".utf8)
            let response = try #require(parseHTTPResponses(try await s.exchange(bytes)).first)
            #expect(response.status == 200)
            #expect(response.json?["id"] == "chunked")
            #expect(response.json?["result"]?["node_id"] == .string(s.node.nodeID.hex))
        }
    }

    @Test func bodyAtTheLimitIsParsed() async throws {
        try await withLiveServer { s in
            // Exactly maxBodyBytes of invalid JSON: accepted by HTTP, refused by JSON-RPC.
            let junk = [UInt8](repeating: UInt8(ascii: "x"), count: RPCServer.maxBodyBytes)
            let (status, body) = try await s.post(junk)
            #expect(status == 200)
            let json = try #require(JSONValue.parse(body))
            #expect(json["error"]?["code"] == -32700)
            #expect(json["id"] == .null)
            // Exactly maxBodyBytes of valid JSON (padded with whitespace) is served.
            var padded = rpcRequest("node.info", id: 77).serialized
            padded += [UInt8](repeating: UInt8(ascii: "\n"), count: RPCServer.maxBodyBytes - padded.count)
            let (okStatus, okBody) = try await s.post(padded)
            #expect(okStatus == 200)
            #expect(JSONValue.parse(okBody)?["id"] == 77)
            #expect(JSONValue.parse(okBody)?["result"] != nil)
            // One byte more is refused.
            let (tooBig, _) = try await s.post(padded + [UInt8(ascii: " ")])
            #expect(tooBig == 413)
        }
    }

    @Test(
        "malformed HTTP is 400",
        arguments: [
            "THIS IS NOT HTTP\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ])
    func malformedHTTP(request: String) async throws {
        try await withLiveServer { s in
            let response = try #require(parseHTTPResponses(try await s.exchange(request)).first)
            #expect(response.status == 400)
        }
    }

    // MARK: JSON-RPC over HTTP

    @Test func listingLifecycle() async throws {
        try await withLiveServer { s in
            let created = try await s.call("listing.create", bikeParams())
            let id = try #require(created["listing_id"]?.stringValue)
            #expect(created["version"] == 1)
            #expect(created["title"] == "Gazelle city bike")
            #expect(created["price"] == "120.00")
            #expect(created["price_minor"] == 12_000)
            #expect(created["currency"] == "EUR")
            #expect(created["status"] == "active")
            #expect(created["tags"] == ["city", "dutch"])
            #expect(created["seller"] == .string(s.node.nodeID.hex))
            // The envelope is the signed object verbatim: it decodes, verifies, and its ids match.
            let envelopeHex = try #require(created["envelope"]?.stringValue)
            let envelopeBytes = try #require(Hex.decode(envelopeHex))
            let verified = try VerifiedObject(bytes: envelopeBytes, now: UInt64(Date().timeIntervalSince1970))
            #expect(verified.id.hex == created["object_id"]?.stringValue)
            #expect(verified.payload(as: Listing.self)?.id(seller: verified.signer).hex == id)
            #expect(verified.signer == s.node.identity.publicKey)

            #expect(try await s.call("listing.get", ["listing_id": .string(id)]) == created)

            let found = try await s.call("listing.search", ["query": "gazelle"])
            #expect(found["results"]?.arrayValue?.map { $0["listing_id"] } == [.string(id)])
            #expect(found["results"]?.arrayValue?.first?["score"] != nil)
            #expect(found["truncated"] == false)
            #expect(found["next_cursor"] == .null)
            let filtered = try await s.call("listing.search", ["category": "bikes", "country": "DE", "sort": "newest"])
            #expect(filtered["results"]?.arrayValue?.count == 1)
            #expect(try await s.call("listing.search", ["category": "cars"])["results"] == [])

            let updated = try await s.call(
                "listing.update",
                ["listing_id": .string(id), "price": "99.50", "currency": "EUR", "title": "Gazelle bike, serviced"])
            #expect(updated["listing_id"] == .string(id))
            #expect(updated["version"] == 2)
            #expect(updated["price"] == "99.50")
            #expect(updated["title"] == "Gazelle bike, serviced")
            #expect(updated["description"] == created["description"], "unchanged fields are kept")
            #expect(updated["created_at"] == created["created_at"])
            #expect(updated["object_id"] != created["object_id"])
            #expect(try await s.call("listing.get", [.string(id)])["version"] == 2)
            #expect(try await s.call("listing.search", ["query": "serviced"])["results"]?.arrayValue?.count == 1)
            #expect(try await s.call("listing.mine")["listings"]?.arrayValue?.map { $0["version"] } == [2])

            let retraction = try await s.call("listing.retract", ["listing_id": .string(id)])
            #expect(retraction["status"] == "retracted")
            #expect(retraction["listing_id"] == .string(id))
            let retractedAt = try #require(retraction["retracted_at"])

            let gone = try await s.callError("listing.get", ["listing_id": .string(id)])
            #expect(gone.code == -32002)
            #expect(gone.data?["listing_id"] == .string(id))
            #expect(gone.data?["retracted_at"] == retractedAt)
            #expect(try await s.call("listing.mine")["listings"] == [])
            #expect(try await s.call("listing.search", ["query": "gazelle"])["results"] == [])
            let info = try await s.call("node.info")
            #expect(info["listings"] == ["active": 0, "retracted": 1])
            #expect(info["node_id"] == .string(s.node.nodeID.hex))
            #expect(info["network"] == "testnet")

            // A retracted listing cannot be changed or retracted again.
            #expect(
                try await s.callError("listing.update", ["listing_id": .string(id), "title": "again"]).code == -32002)
            #expect(try await s.callError("listing.retract", [.string(id)]).code == -32002)
            #expect(try documentedErrorCodes("listing.get").contains(-32002))
        }
    }

    @Test func unknownListingIs32001() async throws {
        try await withLiveServer { s in
            let id = Hex.encode(secureRandomBytes(16))
            for method in ["listing.get", "listing.update", "listing.retract"] {
                var params: [String: JSONValue] = ["listing_id": .string(id)]
                if method == "listing.update" { params["title"] = "x" }
                let e = try await s.callError(method, .object(params))
                #expect(e.code == -32001, "\(method)")
                #expect(e.data?["listing_id"] == .string(id))
                #expect(try documentedErrorCodes(method).contains(-32001))
            }
        }
    }

    @Test func someoneElsesListingIs32004() async throws {
        try await withLiveServer { s in
            let other = SigningKey.generate()
            let envelope = foreignListingEnvelope(by: other, now: await s.node.now())
            #expect(try await s.node.ingest(envelope.bytes) == .inserted)
            let id = ListingID(seller: other.publicKey, salt: try Listing(decoding: envelope.payload).salt).hex

            let held = try await s.call("listing.get", [.string(id)])
            #expect(held["seller"] == .string(Hex.encode(other.publicKey)))
            #expect(held["envelope"] == .string(Hex.encode(envelope.bytes)), "stored and served verbatim")

            let update = try await s.callError("listing.update", ["listing_id": .string(id), "title": "Mine now"])
            #expect(update.code == -32004)
            #expect(update.data?["listing_id"] == .string(id))
            let retract = try await s.callError("listing.retract", ["listing_id": .string(id)])
            #expect(retract.code == -32004)
            #expect(try documentedErrorCodes("listing.update").contains(-32004))
            #expect(try documentedErrorCodes("listing.retract").contains(-32004))

            // Nothing changed.
            let after = try await s.call("listing.get", [.string(id)])
            #expect(after == held)
            #expect(try await s.call("listing.mine")["listings"] == [])
        }
    }

    @Test func expiredListingIs32003() async throws {
        let clock = TestClock()
        try await withLiveServer(clock: clock) { s in
            let created = try await s.call("listing.create", bikeParams(["expires_in_days": 1]))
            let id = try #require(created["listing_id"]?.stringValue)
            #expect(created["expires_at"]?.intValue == Int64(clock.now + 86_400))
            clock.advance(by: 86_399)
            #expect(try await s.call("listing.get", [.string(id)])["status"] == "active")
            clock.advance(by: 1)
            for method in ["listing.get", "listing.update", "listing.retract"] {
                var params: [String: JSONValue] = ["listing_id": .string(id)]
                if method == "listing.update" { params["expires_in_days"] = 30 }
                let e = try await s.callError(method, .object(params))
                #expect(e.code == -32003, "\(method)")
                #expect(e.data?["listing_id"] == .string(id))
                #expect(try documentedErrorCodes(method).contains(-32003))
            }
            // Its seller still sees it, as expired, and can renew it.
            let mine = try await s.call("listing.mine")["listings"]?.arrayValue ?? []
            #expect(mine.map { $0["status"] } == ["expired"] && mine.map { $0["listing_id"] } == [.string(id)])
            #expect(try await s.call("listing.mine", ["include_expired": false])["listings"] == [])
            #expect(try await s.call("listing.search", ["query": "gazelle"])["results"] == [])
            #expect(try await s.call("node.info")["listings"]?["active"] == 0)
            let renewed = try await s.call("listing.renew", ["listing_id": .string(id), "expires_in_days": 3])
            #expect(renewed["status"] == "active" && renewed["version"] == 2)
            #expect(renewed["expires_at"]?.intValue == Int64(clock.now + 3 * 86_400))
            #expect(try await s.call("listing.search", ["query": "gazelle"])["results"]?.arrayValue?.count == 1)
        }
    }

    @Test func updateKeepsOrResetsExpiry() async throws {
        let clock = TestClock()
        try await withLiveServer(clock: clock) { s in
            let created = try await s.call("listing.create", bikeParams(["expires_in_days": 10]))
            let id = try #require(created["listing_id"])
            clock.advance(by: 3_600)
            let kept = try await s.call("listing.update", ["listing_id": id, "quantity": 2])
            #expect(kept["expires_at"] == created["expires_at"])
            #expect(kept["quantity"] == 2)
            #expect(kept["updated_at"]?.intValue == Int64(clock.now))
            let reset = try await s.call("listing.update", ["listing_id": id, "expires_in_days": 2])
            #expect(reset["expires_at"]?.intValue == Int64(clock.now + 2 * 86_400))
            #expect(reset["version"] == 3)
        }
    }

    @Test func quotaIs32005() async throws {
        try await withLiveServer { s in
            let limit = SoukDatabaseQuota.limit
            let price = Money(minorUnits: 100, currency: Currency(code: "EUR")!)
            for i in 0..<limit {
                _ = try await s.node.createListing(ListingDraft(title: "Item \(i)", price: price, category: "misc"))
            }
            let e = try await s.callError("listing.create", bikeParams())
            #expect(e.code == -32005)
            #expect(e.data?["limit"]?.intValue == Int64(limit))
            #expect(try documentedErrorCodes("listing.create").contains(-32005))
            #expect(try await s.node.myListings().count == limit)
        }
    }

    @Test func invalidListingFieldsAre32602WithTheRuleCode() async throws {
        let cases: [(String, [String: JSONValue], reason: String, field: String?)] = [
            ("title too long", ["title": .string(String(repeating: "x", count: 141))], "invalid_title", nil),
            ("empty title", ["title": ""], "invalid_title", nil),
            ("padded title", ["title": " bike "], "invalid_title", nil),
            ("title with a newline", ["title": "a\nb"], "invalid_title", nil),
            ("unknown currency", ["currency": "EURO"], "unknown_currency", "currency"),
            ("lower-case currency", ["currency": "eur"], "unknown_currency", "currency"),
            ("three decimals in EUR", ["price": "1.234"], "invalid_price", "price"),
            ("decimals in JPY", ["price": "1.5", "currency": "JPY"], "invalid_price", "price"),
            ("negative price", ["price": "-1"], "invalid_price", "price"),
            ("exponent", ["price": "1e3"], "invalid_price", "price"),
            ("empty price", ["price": ""], "invalid_price", "price"),
            ("trailing dot", ["price": "12."], "invalid_price", "price"),
            ("price over 2^53", ["price": "90071992547409.92"], "invalid_price", "price"),
            ("price as a number", ["price": 12], "invalid_params", "price"),
            ("upper-case category", ["category": "Bikes"], "invalid_category", nil),
            ("category with a leading dash", ["category": "-bikes"], "invalid_category", nil),
            ("lower-case country", ["country": "de"], "invalid_country", nil),
            ("three-letter country", ["country": "DEU"], "invalid_country", nil),
            ("long location", ["location": .string(String(repeating: "l", count: 129))], "invalid_location", nil),
            (
                "long description", ["description": .string(String(repeating: "d", count: 8 * 1024 + 1))],
                "invalid_description", nil
            ),
            ("bell in description", ["description": "ding\u{07}"], "invalid_description", nil),
            ("eleven tags", ["tags": .array((0..<11).map { .string("t\($0)") })], "invalid_tags", nil),
            ("duplicate tags", ["tags": ["a", "a"]], "invalid_tags", nil),
            ("tag with a space", ["tags": ["bad tag"]], "invalid_tags", nil),
            ("tags not strings", ["tags": [1]], "invalid_params", "tags"),
            ("unknown condition", ["condition": "mint"], "invalid_condition", "condition"),
            ("zero quantity", ["quantity": 0], "invalid_params", "quantity"),
            ("huge quantity", ["quantity": 1_000_001], "invalid_params", "quantity"),
            ("fractional quantity", ["quantity": .double(1.5)], "invalid_params", "quantity"),
            ("zero days", ["expires_in_days": 0], "invalid_params", "expires_in_days"),
            ("31 days", ["expires_in_days": 31], "invalid_params", "expires_in_days"),
            ("unknown field", ["colour": "red"], "unknown_parameter", "colour"),
        ]
        try await withLiveServer { s in
            for (name, overrides, reason, field) in cases {
                let e = try await s.callError("listing.create", bikeParams(overrides))
                #expect(e.code == -32602, "\(name)")
                #expect(e.data?["reason"] == .string(reason), "\(name): \(e)")
                if let field { #expect(e.data?["field"] == .string(field), "\(name): \(e)") }
                #expect(e.message.hasPrefix("Invalid params: "), "\(name)")
            }
            #expect(try await s.node.myListings().isEmpty, "no refused listing was stored")
            #expect(try await s.call("node.info")["listings"]?["active"] == 0)
            // The same fields at their limits are accepted.
            let edge = try await s.call(
                "listing.create",
                bikeParams([
                    "title": .string(String(repeating: "é", count: 140)), "price": "90071992547409.91",
                    "tags": .array((0..<10).map { .string("t\($0)") }), "quantity": 1_000_000, "expires_in_days": 30,
                    "location": .string(String(repeating: "l", count: 128)), "condition": "n/a", "country": "",
                ]))
            #expect(edge["price_minor"]?.intValue == Int64(Money.maxMinorUnits))
            #expect(edge["condition"] == "n/a")
        }
    }

    @Test func invalidUpdatesChangeNothing() async throws {
        try await withLiveServer { s in
            let created = try await s.call("listing.create", bikeParams())
            let id = try #require(created["listing_id"])
            let cases: [(String, [String: JSONValue], field: String?)] = [
                ("nothing to change", [:], nil),
                ("currency without price", ["currency": "USD"], "currency"),
                ("price with too many decimals for the listing's currency", ["price": "5.001"], "price"),
                ("bad title", ["title": .string(String(repeating: "x", count: 141))], nil),
                ("bad listing id", ["listing_id": "xyz"], "listing_id"),
                ("short listing id", ["listing_id": "abcd"], "listing_id"),
            ]
            for (name, params, field) in cases {
                var p = params
                if p["listing_id"] == nil { p["listing_id"] = id }
                let e = try await s.callError("listing.update", .object(p))
                #expect(e.code == -32602, "\(name)")
                if let field { #expect(e.data?["field"] == .string(field), "\(name): \(e)") }
            }
            #expect(try await s.call("listing.get", [id]) == created)
        }
    }

    @Test func priceAloneKeepsTheListingsCurrency() async throws {
        try await withLiveServer { s in
            let created = try await s.call("listing.create", bikeParams(["currency": "USD"]))
            let id = try #require(created["listing_id"])
            let updated = try await s.call("listing.update", ["listing_id": id, "price": "99.50"])
            #expect(updated["currency"] == "USD")
            #expect(updated["price"] == "99.50")
            #expect(updated["version"] == 2)
        }
    }

    @Test func invalidSearchParams() async throws {
        try await withLiveServer { s in
            let cases: [([String: JSONValue], reason: String, field: String)] = [
                (["min_price": "1"], "invalid_params", "min_price"),
                (["currency": "EUR", "max_price": "1.001"], "invalid_price", "max_price"),
                (["currency": "XYZ"], "unknown_currency", "currency"),
                (["seller": "abcd"], "invalid_params", "seller"),
                (["condition": "mint"], "invalid_condition", "condition"),
                (["sort": "oldest"], "invalid_params", "sort"),
                (["query": .string(String(repeating: "q", count: 1025))], "invalid_params", "query"),
                (["cursor": "not-a-cursor"], "invalid_cursor", "cursor"),
            ]
            for (params, reason, field) in cases {
                let e = try await s.callError("listing.search", .object(params))
                #expect(e.code == -32602, "\(params)")
                #expect(e.data?["reason"] == .string(reason), "\(params): \(e)")
                #expect(e.data?["field"] == .string(field), "\(params): \(e)")
            }
        }
    }

    @Test func batchOverHTTP() async throws {
        try await withLiveServer { s in
            let batch: JSONValue = [
                rpcRequest("listing.create", bikeParams(), id: "c"),
                rpcRequest("listing.get", ["listing_id": "00000000000000000000000000000000"], id: 2),
                rpcRequest("listing.create", bikeParams(["title": "Second bike"]), id: nil),
                rpcRequest("no.such.method", id: 3),
                "not a request",
                rpcRequest("listing.mine", id: 4),
            ]
            let (status, body) = try await s.post(batch.serialized)
            #expect(status == 200)
            let items = try #require(JSONValue.parse(body)?.arrayValue)
            #expect(items.map { $0["id"] } == ["c", 2, 3, .null, 4])
            guard items.count == 5 else { return }
            #expect(items[0]["result"]?["title"] == "Gazelle city bike")
            #expect(items[1]["error"]?["code"] == -32001)
            #expect(items[2]["error"]?["code"] == -32601)
            #expect(items[3]["error"]?["code"] == -32600)
            // Elements run in order: the notification's listing exists when listing.mine runs.
            #expect(items[4]["result"]?["listings"]?.arrayValue?.count == 2)
        }
    }

    @Test func notificationOverHTTPIs204() async throws {
        try await withLiveServer { s in
            let note = rpcRequest("listing.create", bikeParams(), id: nil).serialized
            let raw = try await s.exchange(rawRequest(auth: s.authHeader, body: note))
            let response = try #require(parseHTTPResponses(raw).first)
            #expect(response.status == 204)
            #expect(response.body.isEmpty)
            // RFC 9110: a 204 carries no Content-Length (NIO drops the server's "0"), or 0.
            #expect(response.headers["content-length"] == nil || response.headers["content-length"] == "0")
            #expect(response.headers["content-type"] == nil)
            #expect(try await s.node.myListings().count == 1, "the notification was executed")
            // A failing notification is also 204.
            let bad = rpcRequest("listing.get", ["listing_id": "nope"], id: nil).serialized
            #expect(try await s.post(bad).status == 204)
            // A batch of only notifications is 204.
            let batch: JSONValue = [rpcRequest("node.info", id: nil), rpcRequest("nope", id: nil)]
            let (status, body) = try await s.post(batch.serialized)
            #expect(status == 204)
            #expect(body.isEmpty)
        }
    }

    @Test func keepAliveConnectionCarriesTwoRequests() async throws {
        try await withLiveServer { s in
            let first = rawRequest(
                auth: s.authHeader, body: rpcRequest("listing.create", bikeParams(), id: 1).serialized, close: false)
            let second = rawRequest(auth: s.authHeader, body: rpcRequest("listing.mine", id: 2).serialized)
            let responses = parseHTTPResponses(try await s.exchange(first + second))
            #expect(responses.map(\.status) == [200, 200])
            guard responses.count == 2 else { return }
            #expect(responses[0].headers["connection"] == "keep-alive")
            #expect(responses[1].headers["connection"] == "close")
            #expect(responses[0].headers["content-type"] == "application/json")
            #expect(responses[0].json?["id"] == 1)
            #expect(responses[0].json?["result"]?["version"] == 1)
            #expect(responses[1].json?["id"] == 2)
            #expect(responses[1].json?["result"]?["listings"]?.arrayValue?.count == 1, "requests run in order")
        }
    }

    @Test func refusalOnAKeptAliveConnection() async throws {
        try await withLiveServer { s in
            // A good request, then one without credentials: the second is refused and the connection closed.
            let first = rawRequest(auth: s.authHeader, body: rpcRequest("node.info", id: 1).serialized, close: false)
            let second = rawRequest(auth: nil, body: rpcRequest("listing.create", bikeParams(), id: 2).serialized)
            let responses = parseHTTPResponses(try await s.exchange(first + second))
            #expect(responses.map(\.status) == [200, 401])
            #expect(try await s.node.myListings().isEmpty)
        }
    }

    @Test func expectContinueIsHonoured() async throws {
        try await withLiveServer { s in
            let req = rawRequest(
                auth: s.authHeader, body: rpcRequest("node.info", id: 5).serialized, headers: ["Expect: 100-continue"])
            let responses = parseHTTPResponses(try await s.exchange(req))
            #expect(responses.map(\.status) == [100, 200])
            #expect(responses.last?.json?["id"] == 5)
        }
    }

    @Test func rpcDiscoverOverHTTP() async throws {
        try await withLiveServer { s in
            try await withBundledDocument {
                let doc = try await s.call("rpc.discover")
                #expect(doc["openrpc"] == "1.3.2")
                #expect(doc == (try specDocument()))
                let names = Set(doc["methods"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
                #expect(names == Set(NodeRPC(node: s.node).methods.map(\.name)))
            }
        }
    }

    @Test func httpResponsesAreJSONWithLength() async throws {
        try await withLiveServer { s in
            let raw = try await s.exchange(rawRequest(auth: s.authHeader, body: rpcRequest("node.info").serialized))
            let response = try #require(parseHTTPResponses(raw).first)
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.headers["content-length"] == String(response.body.count))
            #expect(response.json?["result"]?["version"] == .string(SoukVersion.string))
        }
    }
}

/// The per-author quota the node applies (the store's default).
enum SoukDatabaseQuota {
    static let limit = SoukDatabase.defaultMaxActiveListingsPerSeller
}
