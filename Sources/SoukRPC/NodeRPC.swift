import Foundation
import SoukCore
import SoukCrypto
public import SoukNode
public import SoukStore

/// The node's JSON-RPC method table: `noun.verb` names, documented in `Specs/openrpc.json`.
public struct NodeRPC: Sendable {
    public let node: MarketNode
    /// The peer manager; `nil` when the node runs without networking (peer methods then fail with -32000).
    public let peers: PeerManager?
    public let info: @Sendable () async -> [String: JSONValue]
    /// Asks the daemon to shut down gracefully (`node.stop`); `nil` where nothing can be stopped.
    public let stop: (@Sendable () async -> Void)?

    /// - Parameter info: extra facts for `node.info` that only the daemon knows (RPC address, data dir).
    public init(
        node: MarketNode, peers: PeerManager? = nil, stop: (@Sendable () async -> Void)? = nil,
        info: @escaping @Sendable () async -> [String: JSONValue] = { [:] }
    ) {
        self.node = node
        self.peers = peers
        self.stop = stop
        self.info = info
    }

    public static let listingFields = [
        "title", "description", "price", "currency", "category", "location", "country", "quantity", "condition",
        "tags", "expires_in_days",
    ]

    public var methods: [RPCMethod] {
        let node = self.node
        let info = self.info
        return [
            RPCMethod("rpc.discover") { _ in try OpenRPC.document() },
            RPCMethod("node.info") { _ in
                let summary = try await node.database.summary(now: node.now())
                let objects = summary.objects
                var o: [String: JSONValue] = [
                    "node_id": .string(node.nodeID.hex),
                    "network": .string(node.network.rawValue),
                    "version": .string(SoukVersion.string),
                    "started_at": .int(Int64(node.startedAt)),
                    "uptime_seconds": .int(Int64(await node.now()) - Int64(node.startedAt)),
                    "listings": [
                        "active": .int(Int64(summary.activeListings)),
                        "retracted": .int(Int64(objects[.listingRetraction] ?? 0)),
                    ],
                    "objects": .object(
                        Dictionary(
                            uniqueKeysWithValues: ObjectRegistry.kinds.map {
                                ($0.name, JSONValue.int(Int64(objects[$0] ?? 0)))
                            })),
                ]
                for (k, v) in await info() { o[k] = v }
                if let peers { o["sync"] = await Self.syncJSON(peers) }
                return .object(o)
            },
            RPCMethod("node.stop") { [stop] _ in
                guard let stop else {
                    throw RPCError(
                        code: RPCError.AppCode.nodeError, message: "this node cannot be stopped over JSON-RPC")
                }
                // Answer first; the shutdown starts right after.
                Task {
                    try? await Task.sleep(for: .milliseconds(50))
                    await stop()
                }
                return ["stopping": true]
            },
            RPCMethod("listing.create", parameters: Self.listingFields) { p in
                let draft = try Self.draft(p)
                return try await Self.mapNodeErrors {
                    try Self.json(await node.createListing(draft), now: await node.now())
                }
            },
            RPCMethod("listing.update", parameters: ["listing_id"] + Self.listingFields) { p in
                let id = try Self.listingID(p)
                // A new price without a currency keeps the listing's currency.
                let currentCurrency: String? =
                    p.has("price") && !p.has("currency")
                    ? try await Self.mapNodeErrors { .string(try await node.listing(id).listing.price.currency.code) }
                        .stringValue : nil
                let changes = try Self.changes(p, defaultCurrency: currentCurrency)
                return try await Self.mapNodeErrors {
                    try Self.json(await node.updateListing(id, changes: changes), now: await node.now())
                }
            },
            RPCMethod("listing.retract", parameters: ["listing_id"]) { p in
                let id = try Self.listingID(p)
                return try await Self.mapNodeErrors {
                    let r = try await node.retractListing(id)
                    return [
                        "listing_id": .string(r.listingID.hex), "object_id": .string(r.objectID.hex),
                        "retracted_at": .int(Int64(r.retractedAt)), "envelope": .string(Hex.encode(r.envelope)),
                        "status": "retracted",
                    ]
                }
            },
            RPCMethod("listing.get", parameters: ["listing_id"]) { p in
                let id = try Self.listingID(p)
                return try await Self.mapNodeErrors { try Self.json(await node.listing(id), now: await node.now()) }
            },
            RPCMethod("listing.mine", parameters: ["include_expired", "limit", "cursor"]) { p in
                let includeExpired = try p.optionalBool("include_expired") ?? true
                let limit = Int(try p.optionalInt("limit", range: 1...1_000) ?? 100)
                var offset = 0
                if let cursor = try p.optionalString("cursor") {
                    guard cursor.hasPrefix("mine."), let n = Int(cursor.dropFirst(5)), n >= 0 else {
                        throw RPCError.invalidParams(
                            "cursor is not valid for listing.mine (it must be a next_cursor it returned)",
                            reason: "invalid_cursor", field: "cursor")
                    }
                    offset = n
                }
                return try await Self.mapNodeErrors {
                    let now = await node.now()
                    let all = try await node.myListings(includeExpired: includeExpired)
                    let page = all.dropFirst(offset).prefix(limit)
                    let next = offset + page.count < all.count ? JSONValue.string("mine.\(offset + page.count)") : .null
                    return ["listings": .array(page.map { Self.json($0, now: now) }), "next_cursor": next]
                }
            },
            RPCMethod("listing.renew", parameters: ["listing_id", "expires_in_days"]) { p in
                let id = try Self.listingID(p)
                let days = Int(try p.optionalInt("expires_in_days", range: 1...30) ?? 30)
                return try await Self.mapNodeErrors {
                    try Self.json(await node.renewListing(id, days: days), now: await node.now())
                }
            },
            RPCMethod("listing.search", parameters: SearchParams.names) { p in
                var query = try SearchParams.query(p)
                let minRating = try p.values["min_rating"].flatMap { v throws(RPCError) -> Double? in
                    guard v != .null else { return nil }
                    guard let d = v.doubleValue, d >= 1, d <= 5 else {
                        throw RPCError.invalidParams("min_rating must be a number from 1 to 5", field: "min_rating")
                    }
                    return d
                }
                return try await Self.mapNodeErrors {
                    if let minRating { query.sellers = try await node.sellers(scoringAtLeast: minRating) }
                    let page: SearchPage
                    do {
                        page = try await node.search(query)
                    } catch StoreError.invalidCursor {
                        throw RPCError.invalidParams(
                            "cursor is not valid for this query (it must come from the same search and sort)",
                            reason: "invalid_cursor", field: "cursor")
                    } catch StoreError.invalidQuery(let why) {
                        throw RPCError.invalidParams(why, reason: "invalid_query", field: "query")
                    } catch StoreError.priceSortNeedsCurrency {
                        throw RPCError.invalidParams(
                            StoreError.priceSortNeedsCurrency.description + " (give \"currency\")",
                            reason: "invalid_sort", field: "currency")
                    }
                    let now = await node.now()
                    // Each seller's score as this node sees it (one computation per seller on the page).
                    var reputations: [NodeID: Reputation] = [:]
                    for hit in page.hits {
                        guard let seller = NodeID(publicKey: hit.listing.seller), reputations[seller] == nil else {
                            continue
                        }
                        reputations[seller] = try await node.reputation(of: seller)
                    }
                    return [
                        "results": .array(
                            page.hits.map { hit in
                                var o = Self.json(hit.listing, now: now).objectValue!
                                if let s = hit.score { o["score"] = .double((s * 1000).rounded() / 1000) }
                                if let r = NodeID(publicKey: hit.listing.seller).flatMap({ reputations[$0] }) {
                                    o["seller_rating"] = r.score.value.map(JSONValue.double) ?? .null
                                    o["seller_confidence"] = .double(r.score.confidence)
                                    o["seller_reviews"] = .int(Int64(r.score.reviewCount))
                                }
                                return .object(o)
                            }),
                        "next_cursor": page.nextCursor.map(JSONValue.string) ?? .null,
                        "truncated": .bool(page.truncated),
                        "truncation_reason": page.truncationReason.map(JSONValue.string) ?? .null,
                    ]
                }
            },
        ] + peerMethods + profileMethods + deliveryMethods + tradeMethods + reputationMethods
    }

    /// Maps node errors to JSON-RPC errors; anything else becomes -32603 at the dispatcher.
    static func mapNodeErrors(_ body: () async throws -> JSONValue) async throws -> JSONValue {
        do {
            return try await body()
        } catch let e as NodeError {
            throw rpcError(e)
        } catch let e as ValidationError {
            throw RPCError.invalidParams(e.message, reason: e.code.rawValue)
        }
    }

    static func rpcError(_ e: NodeError) -> RPCError {
        switch e {
        case .listingNotFound(let id):
            return RPCError(
                code: RPCError.AppCode.listingNotFound, message: e.description, data: ["listing_id": .string(id.hex)])
        case .listingRetracted(let id, let at):
            return RPCError(
                code: RPCError.AppCode.listingRetracted, message: e.description,
                data: ["listing_id": .string(id.hex), "retracted_at": .int(Int64(at))])
        case .listingExpired(let id):
            return RPCError(
                code: RPCError.AppCode.listingExpired, message: e.description, data: ["listing_id": .string(id.hex)])
        case .notSeller(let id):
            return RPCError(
                code: RPCError.AppCode.notSeller, message: e.description, data: ["listing_id": .string(id.hex)])
        case .invalid(let v):
            return .invalidParams(v.message, reason: v.code.rawValue)
        case .quotaExceeded(let limit):
            return RPCError(
                code: RPCError.AppCode.quotaExceeded, message: e.description, data: ["limit": .int(Int64(limit))])
        case .conflict:
            return RPCError(code: RPCError.AppCode.conflict, message: e.description)
        case .profileNotFound(let id):
            return RPCError(
                code: RPCError.AppCode.profileNotFound, message: e.description, data: ["node_id": .string(id.hex)])
        case .tradeNotFound(let id):
            return RPCError(
                code: RPCError.AppCode.tradeNotFound, message: e.description, data: ["trade_id": .string(id.hex)])
        case .arbiterNotFound(let id):
            return RPCError(
                code: RPCError.AppCode.arbiterNotFound, message: e.description, data: ["node_id": .string(id.hex)])
        case .tradeActionRefused:
            return RPCError(code: RPCError.AppCode.tradeActionRefused, message: e.description)
        case .alreadySignedOther(let id):
            return RPCError(
                code: RPCError.AppCode.alreadySignedOther, message: e.description, data: ["trade_id": .string(id.hex)])
        default:
            return RPCError(code: RPCError.AppCode.nodeError, message: e.description)
        }
    }

    /// The JSON shape of a listing (schema `Listing` in `Specs/openrpc.json`).
    public static func json(_ s: StoredListing, now: UInt64) -> JSONValue {
        let l = s.listing
        return [
            "listing_id": .string(s.listingID.hex),
            "object_id": .string(s.objectID.hex),
            "seller": .string(Hex.encode(s.seller)),
            "version": .int(Int64(l.version)),
            "title": .string(l.title),
            "description": .string(l.description),
            "price": .string(l.price.decimalString),
            "price_minor": .int(Int64(l.price.minorUnits)),
            "currency": .string(l.price.currency.code),
            "category": .string(l.category),
            "location": .string(l.location),
            "country": .string(l.country),
            "quantity": .int(Int64(l.quantity)),
            "condition": .string(l.condition.name),
            "tags": .array(l.tags.map(JSONValue.string)),
            "created_at": .int(Int64(l.createdAt)),
            "updated_at": .int(Int64(l.updatedAt)),
            "expires_at": .int(Int64(l.expiresAt)),
            "status": .string(l.expiresAt > now ? "active" : "expired"),
            "envelope": .string(Hex.encode(s.envelope)),
        ]
    }

    static func listingID(_ p: RPCParams) throws(RPCError) -> ListingID {
        let raw = try p.string("listing_id")
        guard let id = ListingID(hex: raw) else {
            throw .invalidParams("listing_id must be 32 hex digits", reason: "invalid_listing_id", field: "listing_id")
        }
        return id
    }

    static func money(_ p: RPCParams, priceField: String = "price", defaultCurrency: String? = nil) throws(RPCError)
        -> Money?
    {
        guard let text = try p.optionalString(priceField) else { return nil }
        let code: String
        if let given = try p.optionalString("currency") {
            code = given
        } else if let defaultCurrency {
            code = defaultCurrency
        } else {
            code = try p.string("currency")
        }
        guard let currency = Currency(code: code) else {
            throw .invalidParams("unknown currency \"\(code)\"", reason: "unknown_currency", field: "currency")
        }
        do {
            return try Money(parsing: text, currency: currency)
        } catch {
            throw .invalidParams(error.message, reason: error.code.rawValue, field: priceField)
        }
    }

    static func condition(_ p: RPCParams) throws(RPCError) -> ItemCondition? {
        guard let name = try p.optionalString("condition") else { return nil }
        guard let c = ItemCondition(name: name) else {
            throw .invalidParams(
                "condition must be one of \(ItemCondition.allCases.map(\.name).joined(separator: ", "))",
                reason: "invalid_condition", field: "condition")
        }
        return c
    }

    static func draft(_ p: RPCParams) throws(RPCError) -> ListingDraft {
        guard p.has("price") else { throw .invalidParams("missing \"price\"", field: "price") }
        let price = try money(p)!
        return ListingDraft(
            title: try p.string("title"),
            description: try p.optionalString("description") ?? "",
            price: price,
            category: try p.string("category"),
            location: try p.optionalString("location") ?? "",
            country: try p.optionalString("country") ?? "",
            quantity: UInt64(try p.optionalInt("quantity", range: 1...1_000_000) ?? 1),
            condition: try condition(p) ?? .good,
            tags: try p.optionalStringArray("tags") ?? [],
            expiresInDays: Int(try p.optionalInt("expires_in_days", range: 1...30) ?? 30))
    }

    static func changes(_ p: RPCParams, defaultCurrency: String? = nil) throws(RPCError) -> ListingChanges {
        var c = ListingChanges()
        if p.has("currency") && !p.has("price") {
            throw .invalidParams("currency can only change together with price", field: "currency")
        }
        c.title = try p.optionalString("title")
        c.description = try p.optionalString("description")
        c.price = try money(p, defaultCurrency: defaultCurrency)
        c.category = try p.optionalString("category")
        c.location = try p.optionalString("location")
        c.country = try p.optionalString("country")
        c.quantity = try p.optionalInt("quantity", range: 1...1_000_000).map(UInt64.init)
        c.condition = try condition(p)
        c.tags = try p.optionalStringArray("tags")
        c.expiresInDays = try p.optionalInt("expires_in_days", range: 1...30).map(Int.init)
        let anything =
            [c.title, c.description, c.category, c.location, c.country].contains { $0 != nil }
            || c.price != nil || c.quantity != nil || c.condition != nil || c.tags != nil || c.expiresInDays != nil
        guard anything else { throw .invalidParams("nothing to update: give at least one field to change") }
        return c
    }
}
