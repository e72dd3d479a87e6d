import SoukCore
import SoukCrypto
import SoukNode
import SoukStore

/// `arbiter.*`, `trade.*` and `msg.*` (`Specs/trade.md`; schemas in `Specs/openrpc.json`).
extension NodeRPC {
    var tradeMethods: [RPCMethod] {
        let node = self.node
        let peers = self.peers
        func step(_ name: String, _ type: TradeStep.StepType, text: String? = nil) -> RPCMethod {
            RPCMethod(name, parameters: ["trade_id"] + (text.map { [$0] } ?? [])) { p in
                let id = try Self.objectID(p, "trade_id")
                let t = try text.flatMap { f throws(RPCError) in try Self.tradeText(p, f) } ?? ""
                return try await Self.mapNodeErrors {
                    try await Self.json(node.tradeStep(id, type, text: t), node: node, peers: peers)
                }
            }
        }
        return [
            RPCMethod(
                "arbiter.register",
                parameters: ["display_name", "fee_bps", "currencies", "languages", "terms", "response_hours"]
            ) { p in
                let offer = try Self.arbiterOffer(p)
                return try await Self.mapNodeErrors { Self.json(try await node.registerArbiter(offer)) }
            },
            RPCMethod("arbiter.list") { _ in
                try await Self.mapNodeErrors { ["items": .array(try await node.arbiters().map(Self.json))] }
            },
            RPCMethod(
                "trade.order",
                parameters: [
                    "listing_id", "quantity", "rail", "arbiter", "fallback_arbiter", "private_text", "deadlines",
                ]
            ) { p in
                let request = try Self.orderRequest(p)
                return try await Self.mapNodeErrors {
                    try await Self.json(node.placeOrder(request), node: node, peers: peers)
                }
            },
            step("trade.accept", .accept),
            step("trade.decline", .decline, text: "reason"),
            step("trade.cancel", .cancel, text: "reason"),
            step("trade.acknowledge", .arbiterAck),
            step("trade.pay", .paymentClaim, text: "reference"),
            step("trade.confirm_payment", .paymentConfirm),
            step("trade.fulfil", .fulfil, text: "details"),
            step("trade.received", .received),
            step("trade.dispute", .dispute, text: "evidence"),
            step("trade.expire", .expire),
            RPCMethod("trade.release", parameters: ["trade_id"]) { p in
                let id = try Self.objectID(p, "trade_id")
                return try await Self.mapNodeErrors {
                    try await Self.json(node.release(id), node: node, peers: peers)
                }
            },
            RPCMethod("trade.propose", parameters: ["trade_id", "outcome", "buyer_amount"]) { p in
                let id = try Self.objectID(p, "trade_id")
                let name = try p.string("outcome")
                guard let outcome = TradeResolution.Outcome(name: name) else {
                    throw RPCError.invalidParams(
                        "outcome must be release, refund or split", reason: "invalid_resolution", field: "outcome")
                }
                let share = try p.optionalString("buyer_amount")
                guard (outcome == .split) == (share != nil) else {
                    throw RPCError.invalidParams(
                        "a split names buyer_amount (the buyer's part, a decimal); release and refund do not",
                        reason: "invalid_resolution", field: "buyer_amount")
                }
                return try await Self.mapNodeErrors {
                    var minor: UInt64 = 0
                    if let share {
                        let t = try await node.trade(id).state
                        guard let c = Currency(code: t.order.currency) else { throw RPCError.internalError("currency") }
                        minor = try Money(parsing: share, currency: c).minorUnits
                    }
                    return try await Self.json(
                        node.proposeResolution(id, outcome, buyerShare: minor), node: node, peers: peers)
                }
            },
            RPCMethod("trade.sign", parameters: ["trade_id", "resolution"]) { p in
                let id = try Self.objectID(p, "trade_id")
                let prefix = try p.optionalString("resolution")
                return try await Self.mapNodeErrors {
                    try await Self.json(node.signProposal(id, hashPrefix: prefix), node: node, peers: peers)
                }
            },
            RPCMethod("trade.get", parameters: ["trade_id"]) { p in
                let id = try Self.objectID(p, "trade_id")
                return try await Self.mapNodeErrors { try await Self.json(node.trade(id), node: node, peers: peers) }
            },
            RPCMethod("trade.list", parameters: ["open_only", "limit", "offset"]) { p in
                let open = try p.optionalBool("open_only") ?? false
                let limit = Int(try p.optionalInt("limit", range: 1...1_000) ?? 100)
                let offset = Int(try p.optionalInt("offset", range: 0...1_000_000) ?? 0)
                return try await Self.mapNodeErrors {
                    let me = node.nodeID
                    let now = await node.now()
                    let rows = try node.database.trades(openOnly: open, limit: limit, offset: offset)
                    var items: [JSONValue] = []
                    for row in rows {
                        guard let t = try node.database.trade(row.tradeID) else { continue }
                        items.append(Self.summary(t.state, me: me, now: now))
                    }
                    let counts = try node.database.tradeCounts()
                    return [
                        "items": .array(items), "total": .int(Int64(counts.all)), "open": .int(Int64(counts.open)),
                        "next_offset": rows.count == limit ? .int(Int64(offset + limit)) : .null,
                    ]
                }
            },
            RPCMethod("trade.resync", parameters: ["trade_id"]) { p in
                let id = try Self.objectID(p, "trade_id")
                return try await Self.mapNodeErrors {
                    try await Self.require(peers).resync(id)
                    return try await Self.json(node.trade(id), node: node, peers: peers)
                }
            },
            RPCMethod("trade.proof", parameters: ["trade_id"]) { p in
                let id = try Self.objectID(p, "trade_id")
                return try await Self.mapNodeErrors {
                    let t = try await node.trade(id)
                    guard let proof = SettlementProof.make(state: t.state, envelopes: t.envelopes) else {
                        throw NodeError.tradeActionRefused(
                            "trade \(id) is \(t.state.phase.rawValue), not settled: there is no settlement to prove")
                    }
                    return Self.json(proof)
                }
            },
            RPCMethod("trade.verify_proof", parameters: ["proof"]) { p in
                guard let value = p.values["proof"], value != .null else {
                    throw RPCError.invalidParams("missing \"proof\"", field: "proof")
                }
                let proof = try Self.settlementProof(value)
                do {
                    return Self.json(try proof.verify())
                } catch let error as ValidationError {
                    throw RPCError.invalidParams(error.message, reason: error.code.rawValue, field: "proof")
                }
            },
            RPCMethod("msg.send", parameters: ["trade_id", "listing_id", "to", "text"]) { p in
                let target = try Self.chatTarget(p)
                let text = try p.string("text")
                return try await Self.mapNodeErrors {
                    let (m, warnings) = try await node.sendChat(target, text: text)
                    var o = Self.json(m, me: node.nodeID).objectValue ?? [:]
                    o["warnings"] = .array(warnings.map(JSONValue.string))
                    return .object(o)
                }
            },
            RPCMethod("msg.list", parameters: ["trade_id", "listing_id", "to"]) { p in
                let me = node.nodeID
                if !p.has("trade_id") && !p.has("listing_id") {
                    return try await Self.mapNodeErrors {
                        .object([
                            "conversations": .array(
                                try node.database.conversations().map { c in
                                    [
                                        "conversation": .string(Hex.encode(c.conversation)),
                                        "last_at": .int(Int64(c.last)), "messages": .int(Int64(c.count)),
                                    ]
                                })
                        ])
                    }
                }
                let target = try Self.chatTarget(p)
                return try await Self.mapNodeErrors {
                    ["items": .array(try await node.chat(target).map { Self.json($0, me: me) })]
                }
            },
            RPCMethod("msg.block", parameters: ["node_id", "blocked"]) { p in
                guard let id = try Self.optionalNodeID(p, "node_id") else {
                    throw RPCError.invalidParams("missing \"node_id\"", field: "node_id")
                }
                let blocked = try p.optionalBool("blocked") ?? true
                return try await Self.mapNodeErrors {
                    try node.database.block(id, now: await node.now(), blocked: blocked)
                    return ["node_id": .string(id.hex), "blocked": .bool(blocked)]
                }
            },
        ]
    }

    // MARK: Parameters

    static func objectID(_ p: RPCParams, _ field: String) throws(RPCError) -> ObjectID {
        let hex = try p.string(field)
        guard let id = ObjectID(hex: hex) else {
            throw .invalidParams("\(field) must be 64 hex digits", reason: "invalid_id", field: field)
        }
        return id
    }

    static func tradeText(_ p: RPCParams, _ field: String) throws(RPCError) -> String {
        let text = try p.optionalString(field) ?? ""
        guard text.utf8.count <= TradeStep.Limits.textMaxBytes else {
            throw .invalidParams(
                "\(field) is at most \(TradeStep.Limits.textMaxBytes) bytes", reason: "invalid_trade_step", field: field
            )
        }
        return text
    }

    static func orderRequest(_ p: RPCParams) throws(RPCError) -> OrderRequest {
        let listing = try listingID(p)
        let quantity = UInt64(try p.optionalInt("quantity", range: 1...1_000_000) ?? 1)
        let rail = try p.string("rail")
        var r = OrderRequest(listing: listing, quantity: quantity, rail: rail)
        r.arbiter = try optionalNodeID(p, "arbiter")
        r.fallbackArbiter = try optionalNodeID(p, "fallback_arbiter")
        r.privateText = try p.optionalString("private_text") ?? ""
        if let d = p.values["deadlines"], d != .null {
            guard let o = d.objectValue else {
                throw .invalidParams("deadlines must be an object of seconds", field: "deadlines")
            }
            var s = TradeOrder.Deadlines.standard
            let names = ["accept", "arbiter_ack", "payment", "confirmation", "fulfilment", "inspection", "ruling"]
            for (key, value) in o {
                guard names.contains(key), let n = value.intValue, n >= 1, n <= Int64(TradeOrder.Limits.maxDeadline)
                else {
                    throw .invalidParams(
                        "deadlines.\(key): a known deadline (\(names.joined(separator: ", "))) of 1 s to 180 days",
                        reason: "invalid_order", field: "deadlines")
                }
                let v = UInt64(n)
                switch key {
                case "accept": s.accept = v
                case "arbiter_ack": s.arbiterAck = v
                case "payment": s.payment = v
                case "confirmation": s.confirmation = v
                case "fulfilment": s.fulfilment = v
                case "inspection": s.inspection = v
                default: s.ruling = v
                }
            }
            r.deadlines = s
        }
        return r
    }

    static func arbiterOffer(_ p: RPCParams) throws(RPCError) -> ArbiterOffer {
        let name = try p.string("display_name")
        let fee = UInt64(try p.optionalInt("fee_bps", range: 0...5_000) ?? 100)
        guard let list = p.values["currencies"]?.arrayValue, !list.isEmpty else {
            throw .invalidParams(
                "currencies must be a non-empty array of {currency, min_fee, min_amount, max_amount}",
                reason: "invalid_arbiter_profile", field: "currencies")
        }
        var terms: [ArbiterProfile.CurrencyTerms] = []
        for item in list {
            guard let o = item.objectValue, let code = o["currency"]?.stringValue, let c = Currency(code: code) else {
                throw .invalidParams(
                    "each currency needs a known \"currency\" code", reason: "invalid_arbiter_profile",
                    field: "currencies")
            }
            func amount(_ key: String, _ fallback: UInt64) throws(RPCError) -> UInt64 {
                guard let v = o[key], v != .null else { return fallback }
                guard let s = v.stringValue else {
                    throw .invalidParams("\(key) must be a decimal string", field: "currencies")
                }
                do { return try Money(parsing: s, currency: c).minorUnits } catch {
                    throw .invalidParams("\(code) \(key): \(error.message)", field: "currencies")
                }
            }
            terms.append(
                ArbiterProfile.CurrencyTerms(
                    currency: code, minFee: try amount("min_fee", 0), minAmount: try amount("min_amount", 0),
                    maxAmount: try amount("max_amount", Money.maxMinorUnits)))
        }
        return ArbiterOffer(
            displayName: name, feeBasisPoints: fee, currencies: terms,
            languages: try p.optionalStringArray("languages") ?? [], terms: try p.optionalString("terms") ?? "",
            responseHours: UInt64(try p.optionalInt("response_hours", range: 1...720) ?? 24))
    }

    static func chatTarget(_ p: RPCParams) throws(RPCError) -> MarketNode.ChatTarget {
        if p.has("trade_id") { return .trade(try objectID(p, "trade_id")) }
        guard p.has("listing_id") else {
            throw .invalidParams("give trade_id or listing_id", reason: "invalid_params", field: "trade_id")
        }
        return .listing(try listingID(p), buyer: try optionalNodeID(p, "to"))
    }

    static func settlementProof(_ v: JSONValue) throws(RPCError) -> SettlementProof {
        func bytes(_ key: String) throws(RPCError) -> [UInt8] {
            guard let s = v.objectValue?[key]?.stringValue, let b = Hex.decode(s) else {
                throw .invalidParams("proof.\(key) must be hex", reason: "invalid_proof", field: "proof")
            }
            return b
        }
        guard v.objectValue?["format"]?.stringValue == SettlementProof.format else {
            throw .invalidParams(
                "proof.format must be \"\(SettlementProof.format)\"", reason: "invalid_proof", field: "proof")
        }
        let fallback = v.objectValue?["fallback_ack"]
        var sigs: [[UInt8]] = []
        for s in v.objectValue?["signatures"]?.arrayValue ?? [] {
            guard let h = s.stringValue, let b = Hex.decode(h) else {
                throw .invalidParams("proof.signatures must be hex strings", reason: "invalid_proof", field: "proof")
            }
            sigs.append(b)
        }
        return SettlementProof(
            order: try bytes("order"), accept: try bytes("accept"),
            fallbackAck: fallback == nil || fallback == .null ? nil : try bytes("fallback_ack"), signatures: sigs)
    }

    // MARK: JSON

    static func json(_ a: StoredArbiter) -> JSONValue {
        let p = a.profile
        return [
            "node_id": .string(a.signer.hex), "object_id": .string(a.objectID.hex), "version": .int(Int64(p.version)),
            "display_name": .string(p.displayName), "fee_bps": .int(Int64(p.feeBasisPoints)),
            "currencies": .array(
                p.currencies.map { c in
                    let cur = Currency(code: c.currency)!
                    return [
                        "currency": .string(c.currency),
                        "min_fee": .string(Money(minorUnits: c.minFee, currency: cur).decimalString),
                        "min_amount": .string(Money(minorUnits: c.minAmount, currency: cur).decimalString),
                        "max_amount": .string(Money(minorUnits: c.maxAmount, currency: cur).decimalString),
                    ]
                }),
            "languages": .array(p.languages.map(JSONValue.string)), "terms": .string(p.terms),
            "response_hours": .int(Int64(p.responseHours)), "updated_at": .int(Int64(p.updatedAt)),
            "expires_at": .int(Int64(p.expiresAt)),
        ]
    }

    static func amountJSON(_ minor: UInt64, _ currency: String) -> JSONValue {
        guard let c = Currency(code: currency) else { return .string("\(minor)") }
        return .string(Money(minorUnits: minor, currency: c).decimalString)
    }

    static func json(_ r: TradeResolution, roles: [TradeRole], currency: String) -> JSONValue {
        [
            "hash": .string(Hex.encode(r.hash)), "outcome": .string(r.outcome.description),
            "buyer_amount": amountJSON(r.buyerAmount, currency), "seller_amount": amountJSON(r.sellerAmount, currency),
            "arbiter_fee": amountJSON(r.arbiterFee, currency), "signed_by": .array(roles.map { .string($0.rawValue) }),
        ]
    }

    static func json(_ t: StoredTrade, node: MarketNode, peers: PeerManager?) async throws -> JSONValue {
        let s = t.state
        let me = node.nodeID
        let now = await node.now()
        let role = s.role(of: me)
        let delivery = await peers?.tradeDeliveries(Array(t.envelopes.keys)) ?? [:]
        let listing = try? s.order.agreedListing().listing
        var o: [String: JSONValue] = summary(s, me: me, now: now).objectValue ?? [:]
        o["rail"] = .string(s.order.rail)
        o["quantity"] = .int(Int64(s.order.quantity))
        o["arbiter_fee"] = amountJSON(s.order.arbiterFee, s.order.currency)
        o["parties"] = [
            "buyer": .string(s.parties.buyer.hex), "seller": .string(s.parties.seller.hex),
            "arbiter": .string(s.parties.arbiter.hex),
            "fallback_arbiter": s.parties.fallbackArbiter.map { .string($0.hex) } ?? .null,
        ]
        o["listing"] = [
            "listing_id": listing.map { .string($0.id(seller: s.parties.seller.publicKey).hex) } ?? .null,
            "title": listing.map { .string($0.title) } ?? .null,
            "price": listing.map { .string($0.price.decimalString) } ?? .null,
        ]
        o["deadlines"] = .object(
            Dictionary(uniqueKeysWithValues: s.order.deadlines.all.map { ($0.name, JSONValue.int(Int64($0.seconds))) }))
        o["steps"] = .array(
            s.timeline.map { e in
                var acks: [String: JSONValue] = [:]
                for (who, at) in delivery[e.step.id] ?? [:] { acks[who.hex] = at.map { .int(Int64($0)) } ?? .null }
                return [
                    "object_id": .string(e.step.id.hex), "type": .string(e.step.step.type.description),
                    "author": .string(e.step.author.hex), "role": .string(e.role.rawValue),
                    "created_at": .int(Int64(e.step.step.createdAt)), "text": .string(e.step.step.text),
                    "parents": .array(e.step.step.parents.map { .string($0.hex) }), "counts": .bool(e.void == nil),
                    "void_reason": e.void.map(JSONValue.string) ?? .null,
                    "delivered_to": e.step.author == me ? .object(acks) : .null,
                ]
            })
        o["settlement"] =
            s.settlement.map { json($0.resolution, roles: $0.roles, currency: s.order.currency) } ?? .null
        o["conflict"] =
            s.phase == .conflict
            ? [
                "resolutions": .array(
                    s.settled.map { json($0.resolution, roles: $0.roles, currency: s.order.currency) }),
                "equivocators": .array(s.equivocators.map { .string($0.rawValue) }),
            ] : .null
        o["proposals"] = .array(s.proposals.map { json($0.resolution, roles: $0.roles, currency: s.order.currency) })
        o["fallback_active"] = .bool(s.fallbackActive)
        if let signed = try node.database.signedResolution(s.tradeID) {
            o["signed_by_me"] = .string(Hex.encode(signed.hash))
        }
        if role != nil, let priv = try node.database.tradePrivate(s.tradeID), let p = try? TradePrivate(decoding: priv)
        {
            o["private_text"] = .string(p.text)
        }
        o["notices"] = .array(
            try node.database.notices(s.tradeID).map { ["notice": .string($0.notice), "at": .int(Int64($0.at))] })
        return .object(o)
    }

    /// The row of `trade.list` (and the head of `trade.get`).
    static func summary(_ s: TradeState, me: NodeID, now: UInt64) -> JSONValue {
        let role = s.role(of: me)
        let actions = role.map { s.nextActions(for: $0, now: now) } ?? []
        let title = (try? s.order.agreedListing().listing.title).map(JSONValue.string) ?? .null
        return [
            "trade_id": .string(s.tradeID.hex), "network": .string(s.network), "phase": .string(s.phase.rawValue),
            "role": role.map { .string($0.rawValue) } ?? .null, "title": title,
            "amount": amountJSON(s.order.amount, s.order.currency), "currency": .string(s.order.currency),
            "ordered_at": .int(Int64(s.orderedAt)),
            "deadline": s.deadline.map { d in
                [
                    "awaiting": .string(d.awaiting), "by": .array(d.by.map { .string($0.rawValue) }),
                    "start": .int(Int64(d.start)), "end": .int(Int64(d.end)), "default_exit": .string(d.defaultExit),
                    "elapsed": .double(d.elapsed(now)), "passed": .bool(now >= d.end),
                ]
            } ?? .null,
            "stalled": .bool(s.stalled(now: now)),
            "needs_action": .bool(!actions.isEmpty && actions.contains { $0.name != "cancel" && $0.name != "propose" }),
            "next_actions": .array(
                actions.map { a in
                    [
                        "action": .string(a.name), "by": .string(a.by.rawValue),
                        "deadline": a.deadline.map { .int(Int64($0)) } ?? .null, "note": .string(a.note),
                    ]
                }),
        ]
    }

    static func json(_ proof: SettlementProof) -> JSONValue {
        var o: [String: JSONValue] = [
            "format": .string(SettlementProof.format), "order": .string(Hex.encode(proof.order)),
            "accept": .string(Hex.encode(proof.accept)),
            "fallback_ack": proof.fallbackAck.map { .string(Hex.encode($0)) } ?? .null,
            "signatures": .array(proof.signatures.map { .string(Hex.encode($0)) }),
        ]
        if let v = try? proof.verify() {
            o["network"] = .string(v.network)
            o["trade_id"] = .string(v.tradeID.hex)
            o["resolution"] = json(v.resolution, roles: v.roles, currency: v.order.currency)
        }
        return .object(o)
    }

    static func json(_ v: SettlementProof.Verified) -> JSONValue {
        [
            "valid": .bool(true), "network": .string(v.network), "trade_id": .string(v.tradeID.hex),
            "buyer": .string(v.parties.buyer.hex), "seller": .string(v.parties.seller.hex),
            "arbiter": .string(v.parties.arbiter.hex),
            "amount": amountJSON(v.order.amount, v.order.currency), "currency": .string(v.order.currency),
            "resolution": json(v.resolution, roles: v.roles, currency: v.order.currency),
        ]
    }

    static func json(_ m: StoredMessage, me: NodeID) -> JSONValue {
        [
            "object_id": .string(m.id.hex), "from": .string(m.sender.hex), "mine": .bool(m.sender == me),
            "to": .array(m.message.recipients.map { .string($0.hex) }), "created_at": .int(Int64(m.message.createdAt)),
            "conversation": .string(Hex.encode(m.message.conversation)), "text": .string(m.message.text),
        ]
    }
}

extension NodeRPC {
    /// Checks a settlement proof given as JSON text, offline (`souk trade verify-proof FILE`).
    /// - Returns: what the proof establishes (as `trade.verify_proof` returns it).
    /// - Throws: `RPCError` naming the first failed check.
    public static func verifyProof(json bytes: [UInt8]) throws(RPCError) -> JSONValue {
        guard let value = JSONText.parse(bytes) else {
            throw .invalidParams("the proof is not valid JSON", reason: "invalid_proof", field: "proof")
        }
        let proof = try settlementProof(value)
        do {
            return json(try proof.verify())
        } catch let error as ValidationError {
            throw .invalidParams(error.message, reason: error.code.rawValue, field: "proof")
        } catch {
            throw .internalError("\(error)")
        }
    }
}
