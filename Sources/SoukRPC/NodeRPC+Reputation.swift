import SoukCore
import SoukCrypto
import SoukNode
import SoukStore

/// `review.*`, `reputation.get`, `vouch.*` and `log.*` (`Specs/reputation.md`; schemas in `Specs/openrpc.json`).
extension NodeRPC {
    var reputationMethods: [RPCMethod] {
        let node = self.node
        return [
            RPCMethod(
                "review.create",
                parameters: ["trade_id", "rating", "described", "communication", "speed", "text", "arbiter"]
            ) { p in
                let id = try Self.objectID(p, "trade_id")
                let rating = Int(try p.optionalInt("rating", range: 1...5) ?? 0)
                guard rating > 0 else { throw RPCError.invalidParams("missing \"rating\" (1 to 5)", field: "rating") }
                let subs = try ["described", "communication", "speed"].map { f throws(RPCError) in
                    Int(try p.optionalInt(f, range: 0...5) ?? 0)
                }
                let text = try p.optionalString("text") ?? ""
                let arbiter = try p.optionalBool("arbiter") ?? false
                return try await Self.mapNodeErrors {
                    let object = try await node.review(
                        trade: id, rating: rating, described: subs[0], communication: subs[1], speed: subs[2],
                        text: text, arbiter: arbiter)
                    return Self.entryJSON(object)
                }
            },
            RPCMethod("review.reply", parameters: ["review_id", "text"]) { p in
                let id = try Self.objectID(p, "review_id")
                let text = try p.string("text")
                return try await Self.mapNodeErrors { Self.entryJSON(try await node.reply(to: id, text: text)) }
            },
            RPCMethod("review.list", parameters: ["subject", "author", "limit"]) { p in
                let subject = try Self.optionalNodeID(p, "subject")
                let author = try Self.optionalNodeID(p, "author")
                guard subject != nil || author != nil else {
                    throw RPCError.invalidParams("give subject or author (a node id)", field: "subject")
                }
                let limit = Int(try p.optionalInt("limit", range: 1...1_000) ?? 100)
                return try await Self.mapNodeErrors {
                    [
                        "items": .array(
                            try node.database.reviews(subject: subject, author: author, limit: limit).map(Self.json))
                    ]
                }
            },
            RPCMethod("reputation.get", parameters: ["subject", "explain"]) { p in
                guard let subject = try Self.optionalNodeID(p, "subject") else {
                    throw RPCError.invalidParams("missing \"subject\" (a node id)", field: "subject")
                }
                let explain = try p.optionalBool("explain") ?? false
                return try await Self.mapNodeErrors {
                    Self.json(try await node.reputation(of: subject), explain: explain)
                }
            },
            RPCMethod("vouch.create", parameters: ["node_id", "note"]) { p in
                guard let id = try Self.optionalNodeID(p, "node_id") else {
                    throw RPCError.invalidParams("missing \"node_id\"", field: "node_id")
                }
                let note = try p.optionalString("note") ?? ""
                return try await Self.mapNodeErrors { Self.entryJSON(try await node.vouch(for: id, note: note)) }
            },
            RPCMethod("vouch.revoke", parameters: ["node_id"]) { p in
                guard let id = try Self.optionalNodeID(p, "node_id") else {
                    throw RPCError.invalidParams("missing \"node_id\"", field: "node_id")
                }
                return try await Self.mapNodeErrors { Self.entryJSON(try await node.vouch(for: id, revoke: true)) }
            },
            RPCMethod("log.get", parameters: ["author", "from_seq", "limit"]) { p in
                let author = try Self.optionalNodeID(p, "author") ?? node.nodeID
                let from = UInt64(try p.optionalInt("from_seq", range: 1...Int64(UInt32.max)) ?? 1)
                let limit = Int(try p.optionalInt("limit", range: 1...1_000) ?? 100)
                return try await Self.mapNodeErrors {
                    let entries = try node.database.log(author, fromSeq: from, limit: limit)
                    let fork = try node.database.forks().first { $0.author == author }
                    return [
                        "author": .string(author.hex),
                        "head": try node.database.logHead(author).map { .int(Int64($0.seq)) } ?? .null,
                        "forked_at": fork.map { .int(Int64($0.seq)) } ?? .null,
                        "entries": .array(
                            entries.map { e in
                                [
                                    "object_id": .string(e.objectID.hex), "seq": .int(Int64(e.seq)),
                                    "type": .string(e.type.description), "created_at": .int(Int64(e.createdAt)),
                                    "void_reason": e.voidReason.map(JSONValue.string) ?? .null,
                                    "envelope": .string(Hex.encode(e.envelope)),
                                ]
                            }),
                    ]
                }
            },
            RPCMethod("log.verify", parameters: ["author"]) { p in
                let author = try Self.optionalNodeID(p, "author")
                return try await Self.mapNodeErrors {
                    let r = try node.database.verifyLogs(author: author)
                    return [
                        "authors": .int(Int64(r.authors)), "entries": .int(Int64(r.entries)),
                        "ok": .bool(r.broken.isEmpty),
                        "broken": .array(
                            r.broken.map {
                                [
                                    "author": .string($0.author.hex), "seq": .int(Int64($0.seq)),
                                    "object_id": .string($0.objectID.hex), "reason": .string($0.reason),
                                ]
                            }),
                        "forks": .array(
                            try node.database.forks().map {
                                [
                                    "author": .string($0.author.hex), "seq": .int(Int64($0.seq)),
                                    "proof": .string($0.proof.hex),
                                ]
                            }),
                    ]
                }
            },
        ]
    }

    static func entryJSON(_ o: VerifiedObject) -> JSONValue {
        let e = o.payload(as: LogEntry.self)
        return [
            "object_id": .string(o.id.hex), "author": .string(Hex.encode(o.signer)),
            "seq": e.map { .int(Int64($0.seq)) } ?? .null, "type": e.map { .string($0.body.type.description) } ?? .null,
            "created_at": e.map { .int(Int64($0.createdAt)) } ?? .null,
            "envelope": .string(Hex.encode(o.envelope.bytes)),
        ]
    }

    static func json(_ r: StoredReview) -> JSONValue {
        [
            "review_id": .string(r.entryID.hex), "author": .string(r.author.hex), "subject": .string(r.subject.hex),
            "trade_id": .string(r.tradeID.hex), "rating": .int(Int64(r.rating)), "created_at": .int(Int64(r.createdAt)),
            "after_dispute": .bool(r.disputed), "outcome": .string(r.outcome),
            "reply_id": r.replyID.map { .string($0.hex) } ?? .null,
        ]
    }

    static func json(_ r: Reputation, explain: Bool) -> JSONValue {
        var o: [String: JSONValue] = [
            "subject": .string(r.subject.hex),
            "score": r.score.value.map(JSONValue.double) ?? .null,
            "confidence": .double(r.score.confidence),
            "reviews": .int(Int64(r.score.reviewCount)),
            "label": r.score.label.map(JSONValue.string) ?? .null,
            "trust": .double(r.subjectTrust),
            "forked": .bool(r.forked),
        ]
        if explain {
            o["explain"] = [
                "formula": .string(
                    "score = sum(trust_i * rating_i) / sum(trust_i) over the authors counted (rating_i: the mean of author i's ratings of the subject); confidence = W / (W + \(TrustScore.halfConfidence)), W = sum(trust_i); trust = personalized PageRank from this node, restart \(TrustScore.alpha), \(TrustScore.iterations) steps"
                ),
                "counted": .array(
                    r.score.counted.map { c in
                        [
                            "review_id": .string(c.entryID.hex), "author": .string(c.author.hex),
                            "rating": .double(c.rating), "reviews": .int(Int64(c.reviews)), "trust": .double(c.trust),
                            "path": .array((r.paths[c.author] ?? []).map { .string($0.hex) }),
                        ]
                    }),
                "not_counted": .int(Int64(r.score.reviewCount - r.score.counted.count)),
            ]
        }
        return .object(o)
    }
}
