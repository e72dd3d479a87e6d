import Foundation
import SoukCore
import SoukNode
import SoukRPC
import SoukStore
import Testing

/// `Specs/openrpc.json` must describe exactly what the method table accepts, so it cannot drift.
@Suite("OpenRPC document")
struct OpenRPCDocumentTests {
    let doc: JSONValue
    let methods: [RPCMethod]

    init() throws {
        doc = try specDocument()
        methods = NodeRPC(node: try makeNode()).methods
    }

    func method(_ name: String) throws -> JSONValue {
        try #require(doc["methods"]?.arrayValue?.first { $0["name"]?.stringValue == name }, "\(name) not documented")
    }

    func param(_ method: String, _ name: String) throws -> JSONValue {
        try #require(
            try self.method(method)["params"]?.arrayValue?.first { $0["name"]?.stringValue == name },
            "\(method) does not document \(name)")
    }

    /// Follows a local `$ref` (`#/a/b/c`), and `allOf` with a single member, to the schema it names.
    func resolve(_ schema: JSONValue) throws -> JSONValue {
        if let ref = schema["$ref"]?.stringValue {
            #expect(ref.hasPrefix("#/"))
            var node = doc
            for part in ref.dropFirst(2).split(separator: "/") {
                node = try #require(node[String(part)], "dangling $ref \(ref)")
            }
            return try resolve(node)
        }
        if let all = schema["allOf"]?.arrayValue, all.count == 1 { return try resolve(all[0]) }
        return schema
    }

    func paramSchema(_ method: String, _ name: String) throws -> JSONValue {
        try resolve(try #require(try param(method, name)["schema"]))
    }

    @Test func isOpenRPC132WithInfoAndServers() throws {
        #expect(doc["openrpc"] == "1.3.2")
        #expect(doc["info"]?["title"] == "Souk")
        #expect(doc["info"]?["version"] == .string(SoukVersion.string))
        let description = try #require(doc["info"]?["description"]?.stringValue)
        for fact in [
            "POST /", "127.0.0.1", "rpc.cookie", "__cookie__:", "Basic", "1 MiB", "\(RPCServer.maxBodyBytes)",
            "atch", "otification", "401", "413",
        ] {
            #expect(description.contains(fact), "info.description should mention \(fact)")
        }
        let servers = try #require(doc["servers"]?.arrayValue)
        #expect(servers.first?["url"] == .string("http://127.0.0.1:\(NodeConfig.Network.main.defaultRPCPort)/"))
    }

    @Test func bundledMethodNamesMatchTheDispatcher() async throws {
        let table = Set(methods.map(\.name))
        try await withBundledDocument {
            let names = try OpenRPC.methodNames()
            #expect(names == table)
        }
    }

    @Test func methodNamesMatchTheDispatcher() throws {
        let table = Set(methods.map(\.name))
        let documented = Set(doc["methods"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        #expect(documented == table)
        #expect(doc["methods"]?.arrayValue?.count == methods.count, "no method documented twice")
        #expect(table.contains("rpc.discover"))
    }

    @Test func paramNamesAndOrderMatchTheDispatcher() throws {
        for m in methods {
            let documented = try method(m.name)
            let names = documented["params"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            // Order matters: positional params are mapped onto this list.
            #expect(names == m.parameters, "params of \(m.name)")
            #expect(documented["paramStructure"] == "either", "\(m.name) accepts both by-name and positional params")
            for p in documented["params"]?.arrayValue ?? [] {
                #expect(p["schema"] != nil, "\(m.name).\(p["name"]?.stringValue ?? "?") has a schema")
                #expect(
                    p["description"]?.stringValue?.isEmpty == false,
                    "\(m.name).\(p["name"]?.stringValue ?? "?") is described")
                #expect(p["required"]?.boolValue != nil, "\(m.name).\(p["name"]?.stringValue ?? "?") states required")
            }
            #expect(documented["result"]?["schema"] != nil, "\(m.name) has a result schema")
        }
    }

    @Test func requiredFlagsMatchTheCode() throws {
        func required(_ m: String) throws -> Set<String> {
            Set(
                try method(m)["params"]?.arrayValue?.filter { $0["required"] == true }.compactMap {
                    $0["name"]?.stringValue
                } ?? [])
        }
        #expect(try required("listing.create") == ["title", "price", "currency", "category"])
        #expect(try required("listing.update") == ["listing_id"])
        #expect(try required("listing.retract") == ["listing_id"])
        #expect(try required("listing.get") == ["listing_id"])
        #expect(try required("listing.search") == [])
    }

    /// The required set documented for create is really required, and nothing else is.
    @Test func createRequiresExactlyTheDocumentedParams() async throws {
        let node = try makeNode()
        let d = makeDispatcher(node: node)
        let full: [String: JSONValue] = ["title": "Chair", "price": "5", "currency": "EUR", "category": "furniture"]
        let ok = try #require(
            try await dispatch(
                d, #"{"jsonrpc":"2.0","method":"listing.create","params":\#(JSONValue.object(full)),"id":1}"#))
        #expect(ok["result"]?["title"] == "Chair")
        for name in full.keys.sorted() {
            var params = full
            params[name] = nil
            let r = try #require(
                try await dispatch(
                    d, #"{"jsonrpc":"2.0","method":"listing.create","params":\#(JSONValue.object(params)),"id":1}"#))
            #expect(r["error"]?["code"] == -32602, "create without \(name) must fail")
        }
    }

    @Test func enumsMatchTheCode() throws {
        let conditions = ItemCondition.allCases.map { JSONValue.string($0.name) }
        #expect(try paramSchema("listing.create", "condition")["enum"] == .array(conditions))
        #expect(try paramSchema("listing.search", "condition")["enum"] == .array(conditions))
        let sorts = SearchQuery.Sort.allCases.map { JSONValue.string($0.rawValue) }
        #expect(try paramSchema("listing.search", "sort")["enum"] == .array(sorts))
        let currencies = Set(
            try #require(try paramSchema("listing.create", "currency")["enum"]?.arrayValue)
                .compactMap(\.stringValue))
        #expect(currencies == Set(Currency.table.keys))
        #expect(currencies.allSatisfy { Currency(code: $0) != nil })
    }

    @Test func rangesMatchTheCode() throws {
        #expect(
            try paramSchema("listing.create", "title")["maxLength"]?.intValue
                == Int64(Listing.Limits.titleMaxCharacters))
        #expect(
            try paramSchema("listing.create", "category")["maxLength"]?.intValue
                == Int64(Listing.Limits.categoryMaxBytes))
        #expect(try paramSchema("listing.create", "tags")["maxItems"]?.intValue == Int64(Listing.Limits.maxTags))
        #expect(
            try paramSchema("listing.create", "tags")["items"]?["maxLength"]?.intValue
                == Int64(Listing.Limits.tagMaxBytes))
        #expect(
            try paramSchema("listing.create", "location")["maxLength"]?.intValue
                == Int64(Listing.Limits.locationMaxCharacters))
        for m in ["listing.create", "listing.update"] {
            let q = try paramSchema(m, "quantity")
            #expect(q["minimum"]?.intValue == Int64(Listing.Limits.quantityRange.lowerBound))
            #expect(q["maximum"]?.intValue == Int64(Listing.Limits.quantityRange.upperBound))
            let e = try paramSchema(m, "expires_in_days")
            #expect(e["minimum"] == 1)
            #expect(e["maximum"]?.intValue == Int64(Listing.Limits.maxLifetime / 86_400))
        }
        let limit = try paramSchema("listing.search", "limit")
        #expect(limit["minimum"] == 1)
        #expect(limit["maximum"]?.intValue == Int64(SearchQuery.maxLimit))
        #expect(try paramSchema("listing.search", "query")["maxLength"] == 1024)
    }

    @Test func resultSchemasDescribeWhatTheNodeReturns() async throws {
        let schemas = try #require(doc["components"]?["schemas"])
        for name in ["Listing", "SearchResult", "NodeInfo", "Retraction"] {
            #expect(schemas[name] != nil, "components/schemas/\(name)")
        }
        let node = try makeNode()
        let d = makeDispatcher(node: node)
        let created = try #require(
            try await dispatch(
                d, #"{"jsonrpc":"2.0","method":"listing.create","params":\#(bikeParams()),"id":1}"#)?["result"])
        let listingProps = Set(try #require(schemas["Listing"]?["properties"]?.objectValue).keys)
        let listingRequired = Set(try #require(schemas["Listing"]?["required"]?.arrayValue).compactMap(\.stringValue))
        #expect(Set(try #require(created.objectValue).keys) == listingRequired)
        #expect(listingRequired.isSubset(of: listingProps))

        let id = try #require(created["listing_id"]?.stringValue)
        let info = try #require(try await dispatch(d, #"{"jsonrpc":"2.0","method":"node.info","id":1}"#)?["result"])
        let infoRequired = Set(try #require(schemas["NodeInfo"]?["required"]?.arrayValue).compactMap(\.stringValue))
        #expect(Set(try #require(info.objectValue).keys) == infoRequired)

        let search = try #require(
            try await dispatch(
                d, #"{"jsonrpc":"2.0","method":"listing.search","params":{"query":"bike"},"id":1}"#)?["result"])
        let searchProps = Set(try #require(schemas["SearchResult"]?["properties"]?.objectValue).keys)
        #expect(Set(try #require(search.objectValue).keys) == searchProps)
        let hit = try #require(search["results"]?.arrayValue?.first)
        #expect(Set(try #require(hit.objectValue).keys).isSubset(of: listingProps), "score is documented")

        let retracted = try #require(
            try await dispatch(
                d, #"{"jsonrpc":"2.0","method":"listing.retract","params":["\#(id)"],"id":1}"#)?["result"])
        let retractionProps = Set(try #require(schemas["Retraction"]?["properties"]?.objectValue).keys)
        #expect(Set(try #require(retracted.objectValue).keys) == retractionProps)
    }

    @Test func errorCodesAreAllDocumented() throws {
        let listed = try #require(doc["x-error-codes"]?.arrayValue)
        let codes = listed.compactMap { $0["code"]?.intValue.map(Int.init) }
        #expect(codes.count == listed.count)
        #expect(Set(codes).count == codes.count, "no code listed twice")
        // Application codes from -32000 down; literals, so a new code must be added here and in the document.
        let app = [
            RPCError.AppCode.nodeError, RPCError.AppCode.listingNotFound, RPCError.AppCode.listingRetracted,
            RPCError.AppCode.listingExpired, RPCError.AppCode.notSeller, RPCError.AppCode.quotaExceeded,
            RPCError.AppCode.conflict, -32007, -32008, -32009, -32010, -32011, -32012, -32013,
        ]
        #expect(Set(codes) == Set([-32700, -32600, -32601, -32602, -32603] + app))
        for entry in listed {
            #expect(
                entry["description"]?.stringValue?.isEmpty == false, "code \(entry["code"]?.intValue ?? 0) is described"
            )
        }
        for m in methods {
            let perMethod = try documentedErrorCodes(m.name)
            #expect(perMethod.contains(-32602), "\(m.name) lists -32602")
            #expect(perMethod.isSubset(of: Set(codes)), "\(m.name) lists only known codes")
        }
        #expect(try documentedErrorCodes("listing.get").isSuperset(of: [-32001, -32002, -32003]))
        #expect(try documentedErrorCodes("listing.update").isSuperset(of: [-32001, -32002, -32003, -32004]))
        #expect(try documentedErrorCodes("listing.retract").isSuperset(of: [-32001, -32002, -32003, -32004]))
        #expect(try documentedErrorCodes("listing.create").contains(-32005))
    }

    @Test func everyRefResolves() throws {
        var refs: [String] = []
        func walk(_ v: JSONValue) {
            switch v {
            case .object(let o):
                if let r = o["$ref"]?.stringValue { refs.append(r) }
                o.values.forEach(walk)
            case .array(let a): a.forEach(walk)
            default: break
            }
        }
        walk(doc)
        #expect(!refs.isEmpty)
        for r in refs where r.hasPrefix("#/") {
            _ = try resolve(["$ref": .string(r)])
        }
    }

    @Test func rpcDiscoverServesTheDocument() async throws {
        let d = makeDispatcher(node: try makeNode())
        let r = try #require(try await dispatch(d, #"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#))
        try await withBundledDocument {
            #expect(r["error"] == nil, "rpc.discover failed: \(r["error"]?.description ?? "")")
            let same = r["result"] == doc
            #expect(same, "rpc.discover returns Specs/openrpc.json")
            #expect(r["result"]?["openrpc"] == "1.3.2")
        }
    }

    /// The document compiled into the build is the spec file itself, not a stale copy.
    @Test func bundledDocumentIsTheSpecFile() async throws {
        try await withBundledDocument {
            let bundled = try OpenRPC.document()
            #expect(bundled == doc)
        }
    }
}

/// Without a peer manager the peer methods refuse with -32000, as documented.
@Suite("NodeRPC without networking")
struct NodeRPCWithoutNetworkingTests {
    @Test(arguments: ["peer.list", "peer.bans", "peer.reconcile", "node.stats"])
    func peerMethodsNeedNetworking(method: String) async throws {
        let d = makeDispatcher(node: try makeNode())
        let names = Set(NodeRPC(node: try makeNode()).methods.map(\.name))
        guard names.contains(method) else { return }  // networking methods not in this build
        let r = try #require(try await dispatch(d, #"{"jsonrpc":"2.0","method":"\#(method)","id":1}"#))
        #expect(r["error"]?["code"]?.intValue == Int64(RPCError.AppCode.nodeError))
        #expect(r["error"]?["message"]?.stringValue?.contains("networking") == true)
        #expect(try documentedErrorCodes(method).contains(RPCError.AppCode.nodeError))
    }

    @Test func nodeInfoHasNoSyncWithoutNetworking() async throws {
        let d = makeDispatcher(node: try makeNode())
        let r = try #require(try await dispatch(d, #"{"jsonrpc":"2.0","method":"node.info","id":1}"#))
        #expect(r["result"]?["listings"] == ["active": 0, "retracted": 0])
        #expect(r["result"]?["sync"] == nil)
    }
}
