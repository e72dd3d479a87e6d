import Foundation
import SoukCore
import SoukCrypto
import Testing

/// The schema of `Specs/vectors/trade.json` (snake_case keys, lower-case hex).
struct TradeVectorFile: Codable, Equatable {
    struct Key: Codable, Equatable {
        var role: String
        var seed: String
        var publicKey: String
    }
    struct Object: Codable, Equatable {
        var name: String
        var comment: String
        var signer: String
        var kind: Int
        var payload: String
        var envelope: String
        var objectId: String
    }
    struct FoldCase: Codable, Equatable {
        var name: String
        var comment: String
        var steps: [String]
        var resolutions: [String]
        var phase: String
        var settlement: String?
    }
    struct Bundle: Codable, Equatable {
        var comment: String
        var envelopes: [String]
        var privateBlob: String
        var plaintext: String
    }
    var about: String
    var network: String
    var keys: [Key]
    var objects: [Object]
    var bundle: Bundle
    var proof: String
    var folds: [FoldCase]
}

/// Checks `Specs/vectors/trade.json` two ways: the file is exactly what the code produces from the
/// fixed keys (so the spec cannot drift), and every listed object verifies, decodes and folds to
/// the listed phase. Regenerate after a deliberate format change:
/// `SOUK_WRITE_TRADE_VECTORS=1 swift test --filter TradeVectorTests`.
@Suite("Trade vectors (Specs/vectors/trade.json)")
struct TradeVectorTests {
    typealias F = TradeFixture

    static var fileURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Specs/vectors/trade.json")
    }

    /// Everything in the file, built from the fixed keys.
    static func generate() throws -> TradeVectorFile {
        let f = TradeFixture()
        var objects: [TradeVectorFile.Object] = []
        var ids: [String: String] = [:]
        func add(_ name: String, _ comment: String, _ kind: ObjectKind, _ payload: [UInt8], _ key: SigningKey) {
            let e = Envelope(kind: kind, payload: payload, signingKey: key)
            ids[name] = e.id.hex
            objects.append(
                .init(
                    name: name, comment: comment, signer: Hex.encode(key.publicKey), kind: Int(kind.rawValue),
                    payload: Hex.encode(payload), envelope: Hex.encode(e.bytes), objectId: e.id.hex))
        }
        add(
            "listing", "The seller's listing the order embeds (price 120.00 EUR, quantity 3).", .listing,
            F.listingEnvelope.payload, F.sellerKey)
        add(
            "order",
            "The buyer's order: 1 item, 120.00 EUR, fee 2.40, fallback arbiter, rail cash, 10 h deadlines; its id is the trade id.",
            .tradeStep, f.orderStep.encoded(), F.buyerKey)
        let steps = f.throughFulfilment()
        let names = ["accept", "arbiter-ack", "payment-claim", "payment-confirm", "fulfil"]
        let keys = [F.sellerKey, F.arbiterKey, F.buyerKey, F.sellerKey, F.sellerKey]
        for (i, s) in steps.enumerated() {
            let parents = s.step.parents.map { p in ids.first(where: { $0.value == p.hex })?.key ?? p.hex }
            add(
                names[i], "Step \(s.step.type) at t0 + \(s.step.createdAt - F.t0) s, parents \(parents).", .tradeStep,
                s.step.encoded(), keys[i])
        }
        let cancel = f.step(.cancel, by: F.buyerKey, at: 450, text: "found another")
        add(
            "cancel",
            "The buyer cancels at t0 + 450 s: after its own payment claim (t0 + 400 s) it does not count; without a claim it would.",
            .tradeStep,
            cancel.step.encoded(), F.buyerKey)
        let dispute = f.step(.dispute, by: F.buyerKey, at: 700, parents: [steps[1].id], text: "scratched")
        add("dispute", "The buyer disputes after the fulfilment.", .tradeStep, dispute.step.encoded(), F.buyerKey)
        let release = f.resolution(.release)
        let split = f.resolution(.split, buyerShare: 6_000)
        add(
            "release-by-buyer", "Release: seller 117.60, fee 2.40, signed by the buyer.", .tradeResolution,
            release.encoded(), F.buyerKey)
        add(
            "release-by-seller", "The same bytes signed by the seller: with the buyer's, a settlement.",
            .tradeResolution, release.encoded(), F.sellerKey)
        add(
            "split-by-arbiter", "Split: buyer 60.00, seller 57.60, fee 2.40, signed by the arbiter.", .tradeResolution,
            split.encoded(), F.arbiterKey)
        add("split-by-buyer", "The split countersigned by the buyer.", .tradeResolution, split.encoded(), F.buyerKey)
        add(
            "release-by-arbiter",
            "The release signed by the arbiter too: with the split, a conflict (the arbiter signed both).",
            .tradeResolution, release.encoded(), F.arbiterKey)
        let chat = ChatMessage(
            network: "testnet", createdAt: F.t0 + 150, conversation: f.tradeID.bytes, recipients: [F.seller],
            text: "Can I pick it up on Tuesday?")
        add(
            "chat", "A chat message in the trade's conversation, buyer to seller.", .chatMessage, chat.encoded(),
            F.buyerKey)
        let arb = ArbiterProfile(
            version: 1, updatedAt: F.t0, expiresAt: F.t0 + 30 * 86_400, displayName: "Fair Arbiter",
            feeBasisPoints: 200,
            currencies: [.init(currency: "EUR", minFee: 100, minAmount: 500, maxAmount: 1_000_000)],
            languages: ["en", "de"],
            terms: "I rule within 3 days.", responseHours: 24)
        add(
            "arbiter-profile", "The arbiter's profile: 2 %, min fee 1.00 EUR, amounts 5.00 to 10 000.00 EUR.",
            .arbiterProfile, arb.encoded(), F.arbiterKey)

        func id(_ n: String) -> String { ids[n]! }
        let folds: [TradeVectorFile.FoldCase] = [
            .init(
                name: "ordered", comment: "The order alone.", steps: [], resolutions: [], phase: "ordered",
                settlement: nil),
            .init(
                name: "fulfilled", comment: "The happy path up to the fulfilment, in any order.",
                steps: ["fulfil", "accept", "payment-confirm", "arbiter-ack", "payment-claim"].map(id), resolutions: [],
                phase: "fulfilled", settlement: nil),
            .init(
                name: "one-signature", comment: "One signature never settles.", steps: names.map(id),
                resolutions: [id("release-by-buyer")], phase: "fulfilled", settlement: nil),
            .init(
                name: "settled-release", comment: "Buyer and seller signed the same release.", steps: names.map(id),
                resolutions: [id("release-by-buyer"), id("release-by-seller")], phase: "settled",
                settlement: Hex.encode(release.hash)),
            .init(
                name: "cancel-after-claim", comment: "A cancel does not count once payment was claimed.",
                steps: names.map(id) + [id("cancel")], resolutions: [], phase: "fulfilled", settlement: nil),
            .init(
                name: "cancelled", comment: "Cancel racing accept: the cancel wins.",
                steps: [id("accept"), id("cancel")],
                resolutions: [], phase: "cancelled", settlement: nil),
            .init(
                name: "disputed-split", comment: "A dispute settled by the arbiter's split and the buyer's signature.",
                steps: names.map(id) + [id("dispute")], resolutions: [id("split-by-arbiter"), id("split-by-buyer")],
                phase: "settled", settlement: Hex.encode(split.hash)),
            .init(
                name: "conflict", comment: "Two resolutions with two signatures each: the arbiter signed both.",
                steps: names.map(id),
                resolutions: [
                    id("release-by-seller"), id("release-by-arbiter"), id("split-by-arbiter"), id("split-by-buyer"),
                ],
                phase: "conflict", settlement: nil),
        ]
        // A bundle carries an order with the private fields its hash names.
        let privateFields = TradePrivate(salt: Array(repeating: 0x11, count: 16), text: "Musterstrasse 1")
        let withPrivate = TradeFixture(privateHash: privateFields.hash)
        add(
            "order-with-private-fields", "An order whose private_hash names the private fields of the bundle vector.",
            .tradeStep, withPrivate.orderStep.encoded(), F.buyerKey)
        let plain = TradeBundle(envelopes: [withPrivate.orderBytes], privateBlob: privateFields.encoded).encoded()!
        let proof = SettlementProof(
            order: f.orderBytes, accept: f.envelope(steps[0], key: F.sellerKey), fallbackAck: nil,
            signatures: [f.resolutionEnvelope(release, F.buyerKey), f.resolutionEnvelope(release, F.sellerKey)])
        return TradeVectorFile(
            about:
                "Souk trade test vectors; see Specs/trade.md §13. Generated by Tests/SoukCoreTests/TradeVectorTests.swift from fixed Ed25519 seeds; every envelope is deterministic (Ed25519 is), so an implementation must reproduce every byte. t0 = 1767225600. Bundle plaintext is before sealing (crypto_box_seal is randomized).",
            network: "testnet",
            keys: [
                ("buyer", F.buyerKey, 0x00), ("seller", F.sellerKey, 0x20), ("arbiter", F.arbiterKey, 0x40),
                ("fallback_arbiter", F.fallbackKey, 0x60),
            ].map {
                .init(
                    role: $0.0, seed: Hex.encode(Array(UInt8($0.2)...UInt8($0.2 + 0x1f))),
                    publicKey: Hex.encode($0.1.publicKey))
            },
            objects: objects,
            bundle: .init(
                comment: "The order with its private fields, padded to 2^n bytes (at least 256).",
                envelopes: [Hex.encode(withPrivate.orderBytes)], privateBlob: Hex.encode(privateFields.encoded),
                plaintext: Hex.encode(plain)),
            proof: try Self.proofJSON(proof),
            folds: folds)
    }

    static func proofJSON(_ p: SettlementProof) throws -> String {
        let o: [String: Any] = [
            "format": SettlementProof.format, "order": Hex.encode(p.order), "accept": Hex.encode(p.accept),
            "fallback_ack": NSNull(), "signatures": p.signatures.map(Hex.encode),
        ]
        return String(
            decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes]),
            as: UTF8.self)
    }

    static func encode(_ file: TradeVectorFile) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(file)
        data.append(0x0a)
        return data
    }

    static func load() throws -> TradeVectorFile {
        if ProcessInfo.processInfo.environment["SOUK_WRITE_TRADE_VECTORS"] == "1" {
            try encode(try generate()).write(to: fileURL, options: .atomic)
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(TradeVectorFile.self, from: try Data(contentsOf: fileURL))
    }

    @Test("the file is exactly what the code produces")
    func fileMatchesCode() throws {
        let file = try Self.load()
        #expect(file == (try Self.generate()))
    }

    @Test("every object verifies and re-encodes byte for byte; ids are BLAKE2b-256 of the envelope")
    func objectsVerify() throws {
        let file = try Self.load()
        for o in file.objects {
            let bytes = try #require(Hex.decode(o.envelope))
            let v = try VerifiedObject(bytes: bytes, now: F.t0 + 1_000)
            #expect(Hex.encode(v.envelope.payload) == o.payload && v.id.hex == o.objectId, "\(o.name)")
            #expect(Hex.encode(Blake2b.hash256(bytes)) == o.objectId)
            #expect(Hex.encode(v.payload.encoded()) == o.payload, "\(o.name) re-encodes")
        }
        for k in file.keys {
            #expect(Hex.encode(try SigningKey(seed: try #require(Hex.decode(k.seed))).publicKey) == k.publicKey)
        }
        let bundle = try TradeBundle(decoding: try #require(Hex.decode(file.bundle.plaintext)))
        #expect(bundle.envelopes.map(Hex.encode) == file.bundle.envelopes)
        #expect(Hex.encode(bundle.privateBlob) == file.bundle.privateBlob)
        let order = try TradeStep(decoding: try Envelope(decoding: bundle.envelopes[0]).payload)
        #expect(order.order?.privateHash == (try TradePrivate(decoding: bundle.privateBlob)).hash)
        #expect(Hex.decode(file.bundle.plaintext)!.count == 512, "padded to a power of two")
    }

    @Test("every fold case gives its phase and settlement, in any order")
    func folds() throws {
        let file = try Self.load()
        var steps: [String: SignedStep] = [:]
        var resolutions: [String: SignedResolution] = [:]
        var order: SignedStep?
        for o in file.objects {
            let v = try VerifiedObject(bytes: try #require(Hex.decode(o.envelope)), now: F.t0 + 1_000)
            if let s = SignedStep(v) {
                if o.name == "order" { order = s } else if s.step.type != .order { steps[v.id.hex] = s }
            }
            if let r = SignedResolution(v) { resolutions[v.id.hex] = r }
        }
        let o = try #require(order)
        for c in file.folds {
            let ss = c.steps.compactMap { steps[$0] }
            let rs = c.resolutions.compactMap { resolutions[$0] }
            #expect(ss.count == c.steps.count && rs.count == c.resolutions.count, "\(c.name): unknown ids")
            let state = TradeState.fold(order: o, steps: ss, resolutions: rs)
            #expect(state.phase.rawValue == c.phase, "\(c.name)")
            #expect(state.settlement.map { Hex.encode($0.resolution.hash) } == c.settlement, "\(c.name)")
            #expect(TradeState.fold(order: o, steps: ss.reversed(), resolutions: rs.reversed()) == state, "\(c.name)")
        }
        // The settlement proof checks offline, and names the release the fold settled on.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(file.proof.utf8)) as? [String: Any])
        #expect(json["format"] as? String == SettlementProof.format)
        let proof = SettlementProof(
            order: try #require(Hex.decode(json["order"] as? String ?? "")),
            accept: try #require(Hex.decode(json["accept"] as? String ?? "")), fallbackAck: nil,
            signatures: try (json["signatures"] as? [String] ?? []).map { try #require(Hex.decode($0)) })
        let verified = try proof.verify()
        #expect(Hex.encode(verified.resolution.hash) == file.folds.first { $0.name == "settled-release" }?.settlement)
    }
}
