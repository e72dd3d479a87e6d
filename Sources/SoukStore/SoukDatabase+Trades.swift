import Foundation
import GRDB
public import SoukCore

/// Trade steps (kind 5): the order opens a trade (`trades`); every later step must name held
/// parents of the same trade (else it waits, `deferred`) and pass `TradeRules` (else it is
/// refused). Each party adds at most `maxStepsPerAuthor` steps to a trade. The trade's phase is
/// recomputed from its whole set in the same transaction, so `trades.phase` always equals the fold.
enum TradeStepApplier: ObjectApplier {
    static var kind: ObjectKind { .tradeStep }
    static var indexTable: String? { "trade_steps" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let step = w.object.payload(as: TradeStep.self), let author = NodeID(publicKey: w.object.signer) else {
            return .rejected(wrongKind(w.object))
        }
        if let order = step.order {
            guard try w.store(replacing: [], countsAgainstQuota: true) else { return w.quotaExceeded }
            let parties = TradeParties(buyer: author, order: order)
            try w.db.cachedStatement(
                sql: """
                    INSERT INTO trades (trade_id, buyer, seller, arbiter, fallback, created_at, phase, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, 'ordered', ?)
                    """
            ).execute(arguments: [
                w.object.id.bytes.data, parties.buyer.publicKey.data, parties.seller.publicKey.data,
                parties.arbiter.publicKey.data, parties.fallbackArbiter?.publicKey.data, Int64(step.createdAt),
                Int64(w.now),
            ])
            try insertStep(w, tradeID: w.object.id, step: step)
            return .inserted
        }
        let tradeID = step.tradeID!
        let order: SignedStep
        switch try SoukDatabase.orderStep(tradeID, db: w.db) {
        case .missing: return .deferred(.object(tradeID))
        case .notAnOrder:
            return .rejected(ValidationError(.invalidTradeStep, "trade \(tradeID) names a step, not an order"))
        case .order(let o): order = o
        }
        var types: [TradeStep.StepType] = []
        var times: [UInt64] = []
        for parent in step.parents {
            if parent == tradeID {
                types.append(.order)
                times.append(order.step.createdAt)
                continue
            }
            guard
                let row = try Row.fetchOne(
                    w.db.cachedStatement(sql: "SELECT trade_id, type, created_at FROM trade_steps WHERE object_id = ?"),
                    arguments: [parent.bytes.data])
            else { return .deferred(.object(parent)) }
            guard (row["trade_id"] as Data).bytes == tradeID.bytes else {
                return .rejected(ValidationError(.invalidTradeStep, "parent \(parent) belongs to another trade"))
            }
            types.append(TradeStep.StepType(rawValue: UInt8(row["type"] as Int))!)
            times.append(UInt64(row["created_at"] as Int64))
        }
        do {
            try TradeRules.check(
                step, author: author, order: order.step,
                parties: TradeParties(buyer: order.author, order: order.step.order!), tradeID: tradeID,
                parentTypes: types, parentTimes: times)
        } catch {
            return .rejected(error)
        }
        // Bounded per author, so one party cannot fill a trade and crowd out the others' steps.
        let held =
            try Int.fetchOne(
                w.db.cachedStatement(sql: "SELECT COUNT(*) FROM trade_steps WHERE trade_id = ? AND author = ?"),
                arguments: [tradeID.bytes.data, w.object.signer.data]) ?? 0
        guard held < SoukDatabase.maxStepsPerAuthor else {
            return .quotaExceeded(limit: SoukDatabase.maxStepsPerAuthor)
        }
        guard try w.store(replacing: [], countsAgainstQuota: false) else { return w.quotaExceeded }
        try insertStep(w, tradeID: tradeID, step: step)
        try SoukDatabase.refreshPhase(tradeID, db: w.db, now: w.now)
        return .inserted
    }

    static func insertStep(_ w: ObjectWriter, tradeID: ObjectID, step: TradeStep) throws {
        try w.db.cachedStatement(
            sql: "INSERT INTO trade_steps (object_id, trade_id, type, author, created_at) VALUES (?, ?, ?, ?, ?)"
        ).execute(arguments: [
            w.object.id.bytes.data, tradeID.bytes.data, Int(step.type.rawValue), w.object.signer.data,
            Int64(step.createdAt),
        ])
    }
}

/// Resolution signatures (kind 6): the trade's order must be held (else it waits), the signer must
/// be one of its parties and the network the trade's. At most `maxResolutionsPerSigner` per party
/// and trade.
enum ResolutionApplier: ObjectApplier {
    static var kind: ObjectKind { .tradeResolution }
    static var indexTable: String? { "trade_resolutions" }

    static func apply(_ w: ObjectWriter) throws -> ApplyOutcome {
        guard let r = w.object.payload(as: TradeResolution.self), let signer = NodeID(publicKey: w.object.signer) else {
            return .rejected(wrongKind(w.object))
        }
        let order: SignedStep
        switch try SoukDatabase.orderStep(r.tradeID, db: w.db) {
        case .missing: return .deferred(.object(r.tradeID))
        case .notAnOrder:
            return .rejected(ValidationError(.invalidResolution, "trade \(r.tradeID) names a step, not an order"))
        case .order(let o): order = o
        }
        guard r.network == order.step.network else {
            return .rejected(
                ValidationError(.wrongNetwork, "resolution for network \(r.network), trade on \(order.step.network)"))
        }
        guard TradeParties(buyer: order.author, order: order.step.order!).role(of: signer) != nil else {
            return .rejected(ValidationError(.invalidResolution, "\(signer) is not a party of trade \(r.tradeID)"))
        }
        // Two per signer: an honest node signs one; a second is kept as the proof that it signed two.
        let held =
            try Int.fetchOne(
                w.db.cachedStatement(sql: "SELECT COUNT(*) FROM trade_resolutions WHERE trade_id = ? AND signer = ?"),
                arguments: [r.tradeID.bytes.data, w.object.signer.data]) ?? 0
        guard held < SoukDatabase.maxResolutionsPerSigner else {
            return .quotaExceeded(limit: SoukDatabase.maxResolutionsPerSigner)
        }
        guard try w.store(replacing: [], countsAgainstQuota: false) else { return w.quotaExceeded }
        try w.db.cachedStatement(
            sql: "INSERT INTO trade_resolutions (object_id, trade_id, signer, resolution_hash) VALUES (?, ?, ?, ?)"
        ).execute(arguments: [w.object.id.bytes.data, r.tradeID.bytes.data, w.object.signer.data, r.hash.data])
        try SoukDatabase.refreshPhase(r.tradeID, db: w.db, now: w.now)
        return .inserted
    }
}

/// One trade as the store holds it: the state (the fold of everything held) and the envelopes.
public struct StoredTrade: Sendable {
    public let state: TradeState
    /// Every envelope of the trade (order, steps, resolution signatures), verbatim, by id.
    public let envelopes: [ObjectID: [UInt8]]
    /// When this node stored each step (its own clock; advice only, never state).
    public let receivedAt: [ObjectID: UInt64]
}

/// A row of `trade.list`.
public struct TradeSummary: Sendable, Equatable {
    public let tradeID: ObjectID
    public let buyer: NodeID
    public let seller: NodeID
    public let arbiter: NodeID
    public let fallbackArbiter: NodeID?
    public let createdAt: UInt64
    public let phase: String
    public let updatedAt: UInt64
}

extension SoukDatabase {
    /// Steps one party may add to one trade (the happy path needs at most four of any party's).
    public static let maxStepsPerAuthor = 16
    /// Resolution signatures one party may add to one trade: its one, and a second as evidence.
    public static let maxResolutionsPerSigner = 2

    enum OrderLookup {
        case missing, notAnOrder
        case order(SignedStep)
    }

    static func migrateTrades(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE arbiters (
                    signer BLOB PRIMARY KEY,
                    object_id BLOB NOT NULL UNIQUE,
                    version INTEGER NOT NULL,
                    display_name TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE trades (
                    trade_id BLOB PRIMARY KEY,
                    buyer BLOB NOT NULL,
                    seller BLOB NOT NULL,
                    arbiter BLOB NOT NULL,
                    fallback BLOB,
                    created_at INTEGER NOT NULL,
                    phase TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    -- When the node next looks at it by itself (deadline notices, default exits);
                    -- 0 whenever the trade changes.
                    next_check INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE INDEX trades_next_check ON trades(next_check);
                CREATE INDEX trades_updated ON trades(updated_at DESC, trade_id);
                CREATE TABLE trade_steps (
                    object_id BLOB PRIMARY KEY,
                    trade_id BLOB NOT NULL,
                    type INTEGER NOT NULL,
                    author BLOB NOT NULL,
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX trade_steps_trade ON trade_steps(trade_id);
                CREATE TABLE trade_resolutions (
                    object_id BLOB PRIMARY KEY,
                    trade_id BLOB NOT NULL,
                    signer BLOB NOT NULL,
                    resolution_hash BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX trade_resolutions_trade ON trade_resolutions(trade_id);
                -- The one resolution this node signed per trade, written before it signs (never two).
                CREATE TABLE signed_resolutions (
                    trade_id BLOB PRIMARY KEY,
                    resolution_hash BLOB NOT NULL,
                    payload BLOB NOT NULL,
                    signed_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                -- An order's private fields (the delivery address), held by the parties only.
                CREATE TABLE trade_private (
                    trade_id BLOB PRIMARY KEY,
                    body BLOB NOT NULL
                ) WITHOUT ROWID;
                -- Deadline warnings already raised (50 %, 90 %), per trade and deadline.
                CREATE TABLE trade_notices (
                    trade_id BLOB NOT NULL,
                    notice TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    PRIMARY KEY (trade_id, notice)
                ) WITHOUT ROWID;
                CREATE TABLE chat (
                    object_id BLOB PRIMARY KEY,
                    conversation BLOB NOT NULL,
                    sender BLOB NOT NULL,
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX chat_conversation ON chat(conversation, created_at, object_id);
                CREATE TABLE blocked (
                    node_id BLOB PRIMARY KEY,
                    blocked_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                -- Addressed objects this node sends, per recipient, until acknowledged.
                CREATE TABLE outbox (
                    object_id BLOB NOT NULL,
                    recipient BLOB NOT NULL,
                    delivery_id BLOB NOT NULL UNIQUE,
                    -- The sealed body of the first attempt, resent as it is (same bytes, same ack).
                    body BLOB,
                    attempts INTEGER NOT NULL,
                    next_attempt_at INTEGER NOT NULL,
                    acked_at INTEGER,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (object_id, recipient)
                ) WITHOUT ROWID;
                CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE acked_at IS NULL;
                -- Mail this node holds for others (mailbox service): the delivery as received.
                CREATE TABLE mailbox (
                    delivery_id BLOB PRIMARY KEY,
                    recipient BLOB NOT NULL,
                    from_peer BLOB NOT NULL,
                    message BLOB NOT NULL,
                    size INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    ack BLOB
                ) WITHOUT ROWID;
                CREATE INDEX mailbox_recipient ON mailbox(recipient, received_at);
                CREATE INDEX mailbox_from ON mailbox(from_peer);
                -- Sealed deliveries opened and applied (trade bundles) are marked processed.
                -- 0 new, 1 read (not a trade bundle), 2 waiting for a parent (retried by tried_at).
                ALTER TABLE inbox ADD COLUMN processed INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE inbox ADD COLUMN tried_at INTEGER NOT NULL DEFAULT 0;
                """)
    }

    /// The order of a trade: held, not held, or the id names something else.
    static func orderStep(_ tradeID: ObjectID, db: Database) throws -> OrderLookup {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT kind, envelope FROM objects WHERE id = ?"),
                arguments: [tradeID.bytes.data])
        else { return .missing }
        guard (row["kind"] as Int) == Int(ObjectKind.tradeStep.rawValue) else { return .notAnOrder }
        let s = try decodeStep((row["envelope"] as Data).bytes)
        return s.step.type == .order ? .order(s) : .notAnOrder
    }

    static func decodeStep(_ bytes: [UInt8]) throws -> SignedStep {
        do {
            let e = try Envelope(decoding: bytes)
            return SignedStep(id: e.id, author: NodeID(publicKey: e.signer)!, step: try TradeStep(decoding: e.payload))
        } catch {
            throw StoreCorruption(detail: "stored trade step does not decode: \(error)")
        }
    }

    static func loadTrade(_ tradeID: ObjectID, db: Database) throws -> StoredTrade? {
        guard case .order(let order) = try orderStep(tradeID, db: db) else { return nil }
        var envelopes: [ObjectID: [UInt8]] = [:]
        var receivedAt: [ObjectID: UInt64] = [:]
        var steps: [SignedStep] = []
        for row in try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT o.envelope, o.received_at FROM trade_steps s JOIN objects o ON o.id = s.object_id
                    WHERE s.trade_id = ?
                    """), arguments: [tradeID.bytes.data])
        {
            let bytes = (row["envelope"] as Data).bytes
            let s = try decodeStep(bytes)
            if s.id != tradeID { steps.append(s) }
            envelopes[s.id] = bytes
            receivedAt[s.id] = UInt64(row["received_at"] as Int64)
        }
        var resolutions: [SignedResolution] = []
        for data in try Data.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT o.envelope FROM trade_resolutions r JOIN objects o ON o.id = r.object_id
                    WHERE r.trade_id = ?
                    """), arguments: [tradeID.bytes.data])
        {
            do {
                let e = try Envelope(decoding: data.bytes)
                resolutions.append(
                    SignedResolution(
                        id: e.id, signer: NodeID(publicKey: e.signer)!,
                        resolution: try TradeResolution(decoding: e.payload)
                    ))
                envelopes[e.id] = data.bytes
            } catch {
                throw StoreCorruption(detail: "stored resolution does not decode: \(error)")
            }
        }
        let state = TradeState.fold(order: order, steps: steps, resolutions: resolutions)
        return StoredTrade(state: state, envelopes: envelopes, receivedAt: receivedAt)
    }

    static func refreshPhase(_ tradeID: ObjectID, db: Database, now: UInt64) throws {
        guard let trade = try loadTrade(tradeID, db: db) else { return }
        try db.cachedStatement(sql: "UPDATE trades SET phase = ?, updated_at = ?, next_check = 0 WHERE trade_id = ?")
            .execute(arguments: [trade.state.phase.rawValue, Int64(now), tradeID.bytes.data])
    }

    /// One trade: its state and envelopes; `nil` if its order is not held.
    public func trade(_ tradeID: ObjectID) throws -> StoredTrade? {
        try writer.read { db in try Self.loadTrade(tradeID, db: db) }
    }

    /// Trades, most recently changed first: all, or only open ones (not in a final phase).
    public func trades(openOnly: Bool = false, limit: Int = 100, offset: Int = 0) throws -> [TradeSummary] {
        try writer.read { db in
            let finals = TradeState.Phase.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
            let filter = openOnly ? "WHERE phase NOT IN (\(finals))" : ""
            return try Row.fetchAll(
                db, sql: "SELECT * FROM trades \(filter) ORDER BY updated_at DESC, trade_id LIMIT ? OFFSET ?",
                arguments: [limit, offset]
            ).map { row in
                TradeSummary(
                    tradeID: ObjectID(bytes: (row["trade_id"] as Data).bytes),
                    buyer: NodeID(publicKey: (row["buyer"] as Data).bytes)!,
                    seller: NodeID(publicKey: (row["seller"] as Data).bytes)!,
                    arbiter: NodeID(publicKey: (row["arbiter"] as Data).bytes)!,
                    fallbackArbiter: (row["fallback"] as Data?).flatMap { NodeID(publicKey: $0.bytes) },
                    createdAt: UInt64(row["created_at"] as Int64), phase: row["phase"],
                    updatedAt: UInt64(row["updated_at"] as Int64))
            }
        }
    }

    /// Open trades due for the node's own look (`next_check` reached), soonest first.
    public func dueTrades(now: UInt64, limit: Int = 500) throws -> [ObjectID] {
        try writer.read { db in
            let finals = TradeState.Phase.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
            return try Data.fetchAll(
                db,
                sql: """
                    SELECT trade_id FROM trades WHERE next_check <= ? AND phase NOT IN (\(finals))
                    ORDER BY next_check LIMIT ?
                    """, arguments: [Int64(clamping: now), limit]
            ).map { ObjectID(bytes: $0.bytes) }
        }
    }

    /// When the node should next look at a trade by itself (`UInt64.max`: never).
    public func setNextCheck(_ tradeID: ObjectID, at time: UInt64) throws {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE trades SET next_check = ? WHERE trade_id = ?",
                arguments: [Int64(clamping: time), tradeID.bytes.data])
        }
    }

    /// How many trades are held, and how many are open.
    public func tradeCounts() throws -> (all: Int, open: Int) {
        try writer.read { db in
            let finals = TradeState.Phase.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
            let all = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trades") ?? 0
            let open = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trades WHERE phase NOT IN (\(finals))") ?? 0
            return (all, open)
        }
    }

    /// Records, before this node signs, the one resolution it signs for a trade (DESIGN invariant 6:
    /// never two). In one transaction: if none is recorded, records this one.
    /// - Returns: `true` when this resolution is (now) the recorded one — sign it; `false` when a
    ///   different one was recorded earlier — never sign.
    public func recordSigning(_ resolution: TradeResolution, now: UInt64) throws -> Bool {
        try writer.write { db in
            if let held = try Data.fetchOne(
                db, sql: "SELECT resolution_hash FROM signed_resolutions WHERE trade_id = ?",
                arguments: [resolution.tradeID.bytes.data])
            {
                return held.bytes == resolution.hash
            }
            try db.execute(
                sql:
                    "INSERT INTO signed_resolutions (trade_id, resolution_hash, payload, signed_at) VALUES (?, ?, ?, ?)",
                arguments: [resolution.tradeID.bytes.data, resolution.hash.data, resolution.encoded().data, Int64(now)])
            return true
        }
    }

    /// The resolution this node recorded for a trade before signing, if any.
    public func signedResolution(_ tradeID: ObjectID) throws -> TradeResolution? {
        try writer.read { db in
            guard
                let data = try Data.fetchOne(
                    db, sql: "SELECT payload FROM signed_resolutions WHERE trade_id = ?",
                    arguments: [tradeID.bytes.data])
            else { return nil }
            do { return try TradeResolution(decoding: data.bytes) } catch {
                throw StoreCorruption(detail: "recorded resolution does not decode: \(error)")
            }
        }
    }

    /// When this node recorded (and signed) its resolution for a trade.
    public func signedResolutionTime(_ tradeID: ObjectID) throws -> UInt64? {
        try writer.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT signed_at FROM signed_resolutions WHERE trade_id = ?", arguments: [tradeID.bytes.data]
            ).map(UInt64.init)
        }
    }

    /// Keeps an order's private fields (only when they match the order's hash; the caller checks).
    public func storeTradePrivate(_ tradeID: ObjectID, body: [UInt8]) throws {
        try writer.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO trade_private (trade_id, body) VALUES (?, ?)",
                arguments: [tradeID.bytes.data, body.data])
        }
    }

    public func tradePrivate(_ tradeID: ObjectID) throws -> [UInt8]? {
        try writer.read { db in
            try Data.fetchOne(
                db, sql: "SELECT body FROM trade_private WHERE trade_id = ?", arguments: [tradeID.bytes.data]
            )?.bytes
        }
    }

    /// Records a deadline notice once. - Returns: whether it is new.
    public func recordNotice(_ tradeID: ObjectID, _ notice: String, now: UInt64) throws -> Bool {
        try writer.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO trade_notices (trade_id, notice, at) VALUES (?, ?, ?)",
                arguments: [tradeID.bytes.data, notice, Int64(now)])
            return db.changesCount > 0
        }
    }

    /// The notices raised for a trade, oldest first.
    public func notices(_ tradeID: ObjectID) throws -> [(notice: String, at: UInt64)] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT notice, at FROM trade_notices WHERE trade_id = ? ORDER BY at, notice",
                arguments: [tradeID.bytes.data]
            ).map { ($0["notice"], UInt64($0["at"] as Int64)) }
        }
    }
}
