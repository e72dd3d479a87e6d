import Foundation
public import Logging
public import SoukCore
public import SoukCrypto
public import SoukStore

/// A node's own view of the market: its identity, its store and the rules that connect them.
///
/// Every operation validates fully before the store is touched (DESIGN invariant 2) and each store
/// write is one transaction (invariant 3). The actor serialises this node's own publications so two
/// concurrent updates of one listing cannot pick the same version.
public actor MarketNode {
    public nonisolated let identity: SigningKey
    public nonisolated let database: SoukDatabase
    public nonisolated let network: NodeConfig.Network
    public nonisolated let startedAt: UInt64
    private let clock: @Sendable () -> UInt64
    let logger: Logger
    /// Objects one signer may hold per kind on this node.
    public nonisolated let quotas: ObjectQuotas
    private var publishHandler: (@Sendable (VerifiedObject) async -> Void)?
    /// This node serves as an arbiter (`souk daemon --arbiter`): it acknowledges orders that name
    /// it and, with `autoDefaults`, signs due default exits by itself.
    /// Whether the node reconciled with a peer since it started (it then knows its own latest
    /// log entry, even when restored from an old backup).
    var logSynced = false
    var trustCache: TrustCache?
    /// The last rulings summary this arbiter published, and when.
    var lastRulings: LogEntry.Rulings?
    var lastRulingsAt: UInt64 = 0
    public private(set) var arbiterMode = false
    public private(set) var autoDefaults = true

    public func setArbiterMode(_ on: Bool, autoDefaults: Bool = true) {
        arbiterMode = on
        self.autoDefaults = autoDefaults
    }

    /// - Parameters:
    ///   - clock: Unix seconds; injectable so tests can move time.
    public init(
        identity: SigningKey, database: SoukDatabase, network: NodeConfig.Network,
        clock: @escaping @Sendable () -> UInt64 = MarketNode.systemClock, quotas: ObjectQuotas = .default,
        logger: Logger
    ) {
        self.quotas = quotas
        self.identity = identity
        self.database = database
        self.network = network
        self.clock = clock
        self.startedAt = clock()
        self.logger = logger
    }

    public static let systemClock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }

    public nonisolated var nodeID: NodeID { NodeID(publicKey: identity.publicKey)! }

    /// Called after each object this node signs and stores (the peer manager gossips it).
    public func setPublishHandler(_ handler: @escaping @Sendable (VerifiedObject) async -> Void) {
        publishHandler = handler
    }

    public func now() -> UInt64 { clock() }

    /// Signs and stores a new listing (version 1).
    /// - Throws: `NodeError.invalid` for a rule the draft breaks, `.quotaExceeded`.
    public func createListing(_ draft: ListingDraft) async throws -> StoredListing {
        let now = clock()
        let days = try checkedDays(draft.expiresInDays)
        let listing = Listing(
            salt: secureRandomBytes(ListingID.saltBytes), version: 1, createdAt: now, updatedAt: now,
            expiresAt: now + days * 86_400, title: draft.title, description: draft.description, price: draft.price,
            category: draft.category, location: draft.location, country: draft.country, quantity: draft.quantity,
            condition: draft.condition, tags: draft.tags)
        return try await publish(listing)
    }

    /// Signs and stores the next version of one of this node's listings.
    public func updateListing(_ id: ListingID, changes: ListingChanges) async throws -> StoredListing {
        let now = clock()
        let current = try ownListing(id)
        var l = current.listing
        if let v = changes.title { l.title = v }
        if let v = changes.description { l.description = v }
        if let v = changes.price { l.price = v }
        if let v = changes.category { l.category = v }
        if let v = changes.location { l.location = v }
        if let v = changes.country { l.country = v }
        if let v = changes.quantity { l.quantity = v }
        if let v = changes.condition { l.condition = v }
        if let v = changes.tags { l.tags = v }
        l.version += 1
        l.updatedAt = max(now, l.updatedAt)
        if let d = changes.expiresInDays {
            l.expiresAt = l.updatedAt + (try checkedDays(d)) * 86_400
        } else {
            // Keep the remaining lifetime, but never beyond the 30-day rule.
            l.expiresAt = min(l.expiresAt, l.updatedAt + Listing.Limits.maxLifetime)
        }
        return try await publish(l)
    }

    /// Signs and stores a tombstone for one of this node's listings.
    public func retractListing(_ id: ListingID) async throws -> StoredRetraction {
        let current = try ownListing(id)
        let tomb = ListingRetraction(salt: current.listing.salt, retractedAt: clock())
        _ = try await publishObject(tomb)
        logger.info("listing retracted", metadata: ["listing.id": "\(id)"])
        guard let stored = try database.retraction(id) else { throw NodeError.listingNotFound(id) }
        return stored
    }

    /// A listing by id: active, or the reason it is not.
    /// - Throws: `.listingNotFound`, `.listingRetracted`, `.listingExpired`.
    public func listing(_ id: ListingID) throws -> StoredListing {
        if let tomb = try database.retraction(id) {
            throw NodeError.listingRetracted(id, retractedAt: tomb.retractedAt)
        }
        guard let stored = try database.listing(id) else {
            if try database.ownExpiredListing(id) != nil { throw NodeError.listingExpired(id) }
            throw NodeError.listingNotFound(id)
        }
        guard stored.listing.expiresAt > clock() else { throw NodeError.listingExpired(id) }
        return stored
    }

    /// This node's own listings, newest first: unexpired ones, and with `includeExpired` also the
    /// expired ones (kept for their seller after other nodes forget them; `renewListing`), those
    /// already swept last.
    public func myListings(includeExpired: Bool = false) throws -> [StoredListing] {
        let held = try database.listings(seller: identity.publicKey, now: clock(), includeExpired: includeExpired)
        guard includeExpired else { return held }
        let ids = Set(held.map(\.listingID))
        let swept = try database.ownExpiredListings().filter { !ids.contains($0.listingID) }
        // Held ones newest first (row ids follow creation), then the swept ones, latest expiry first.
        return held + swept
    }

    /// Publishes the next version of one of this node's listings, expired or not, with a new expiry
    /// `days` from now: how a seller brings back a listing that lapsed.
    /// - Throws: `.listingNotFound`, `.listingRetracted`, `.notSeller`, `.invalid` for `days` outside 1...30.
    public func renewListing(_ id: ListingID, days: Int) async throws -> StoredListing {
        let now = clock()
        let days = try checkedDays(days)
        if let tomb = try database.retraction(id) {
            throw NodeError.listingRetracted(id, retractedAt: tomb.retractedAt)
        }
        guard let current = try database.listing(id) ?? database.ownExpiredListing(id) else {
            throw NodeError.listingNotFound(id)
        }
        guard current.seller == identity.publicKey else { throw NodeError.notSeller(id) }
        var l = current.listing
        l.version += 1
        l.updatedAt = max(now, l.updatedAt + 1)
        l.expiresAt = l.updatedAt + days * 86_400
        return try await publish(l)
    }

    public func search(_ query: SearchQuery) throws -> SearchPage {
        try database.search(query, now: clock())
    }

    /// Verifies and stores an object that came from elsewhere (a peer, an import).
    /// - Returns: what the store did; nothing is stored unless it verifies.
    public func ingest(_ bytes: [UInt8]) throws -> ApplyOutcome {
        let verified: VerifiedObject
        do {
            verified = try VerifiedObject(bytes: bytes, now: clock())
        } catch {
            throw NodeError.invalid(error)
        }
        if let n = verified.payload.objectNetwork, n != network.rawValue {
            throw NodeError.invalid(
                ValidationError(.wrongNetwork, "signed for network \(n), this node is on \(network.rawValue)"))
        }
        return try database.apply(verified, now: clock(), quotas: quotas)
    }

    /// What happened to one object of a batch from a peer.
    public enum IngestResult: Sendable {
        case applied(ApplyOutcome, VerifiedObject)
        case refused(ValidationError)
    }

    /// Verifies a batch of envelopes on all cores, then stores the valid ones in one transaction.
    /// - Returns: one result per envelope, in order.
    public nonisolated func ingestBatch(_ envelopes: [[UInt8]]) async throws -> [IngestResult] {
        let now = clock()
        let network = network.rawValue
        let verified = await Self.verifyConcurrently(envelopes, now: now).map { r in
            // An object signed for another network never backs anything here.
            r.flatMap { o in
                guard let n = o.payload.objectNetwork, n != network else { return .success(o) }
                return .failure(ValidationError(.wrongNetwork, "signed for network \(n), this node is on \(network)"))
            }
        }
        let valid = verified.compactMap { try? $0.get() }
        let outcomes = try database.applyBatch(valid, now: now, quotas: quotas)
        var next = outcomes.makeIterator()
        return verified.map { result in
            switch result {
            case .success(let object): return .applied(next.next()!, object)
            case .failure(let error): return .refused(error)
            }
        }
    }

    /// Signature checks dominate verification; spread them over the cores when the batch is large.
    static func verifyConcurrently(_ envelopes: [[UInt8]], now: UInt64) async -> [Result<
        VerifiedObject, ValidationError
    >] {
        let verify: @Sendable ([UInt8]) -> Result<VerifiedObject, ValidationError> = { bytes in
            Result { () throws(ValidationError) in try VerifiedObject(bytes: bytes, now: now) }
        }
        let workers = min(ProcessInfo.processInfo.activeProcessorCount, max(1, envelopes.count / 16))
        guard workers > 1 else { return envelopes.map(verify) }
        let chunk = (envelopes.count + workers - 1) / workers
        return await withTaskGroup(of: (Int, [Result<VerifiedObject, ValidationError>]).self) { group in
            for start in stride(from: 0, to: envelopes.count, by: chunk) {
                let slice = Array(envelopes[start..<min(start + chunk, envelopes.count)])
                group.addTask { (start, slice.map(verify)) }
            }
            var parts: [(Int, [Result<VerifiedObject, ValidationError>])] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    /// Removes expired listings and old tombstones.
    @discardableResult
    public func pruneExpired() async throws -> (listings: Int, retractions: Int) {
        // This node's own expired listings stay visible to it (listing mine, listing renew).
        let removed = try database.pruneExpired(now: clock(), keepingListingsOf: identity.publicKey)
        try database.optimize()
        try await refreshProfileIfDue()
        if removed.listings + removed.retractions > 0 {
            logger.info(
                "pruned expired objects",
                metadata: ["listings": "\(removed.listings)", "retractions": "\(removed.retractions)"])
        }
        return removed
    }

    private func ownListing(_ id: ListingID) throws -> StoredListing {
        let current = try listing(id)
        guard current.seller == identity.publicKey else { throw NodeError.notSeller(id) }
        return current
    }

    private func checkedDays(_ days: Int) throws -> UInt64 {
        guard (1...30).contains(days) else {
            throw NodeError.invalid(ValidationError(.invalidTimestamps, "expires_in_days must be between 1 and 30"))
        }
        return UInt64(days)
    }

    func verify(_ envelope: Envelope) throws -> VerifiedObject {
        do {
            return try VerifiedObject(envelope: envelope, now: clock())
        } catch {
            throw NodeError.invalid(error)
        }
    }

    private func publish(_ listing: Listing) async throws -> StoredListing {
        do {
            try listing.validateFields()
        } catch {
            throw NodeError.invalid(error)
        }
        _ = try await publishObject(listing)
        let id = listing.id(seller: identity.publicKey)
        logger.info("listing stored", metadata: ["listing.id": "\(id)", "listing.version": "\(listing.version)"])
        guard let stored = try database.listing(id) else { throw NodeError.listingNotFound(id) }
        return stored
    }

    /// Signs one of this node's own objects, verifies and stores it like any other, then hands it
    /// to gossip. - Throws: `NodeError.invalid`, `.quotaExceeded`, or `.conflict` when the store
    /// refuses it (for example a version that is not newer).
    /// Addressed objects (trade steps, resolutions, chat) are queued in the outbox for each of
    /// `recipients` in the same step, before the handler sends them.
    func publishObject(_ payload: some ObjectPayload, to recipients: [NodeID] = []) async throws -> VerifiedObject {
        let kind = type(of: payload).kind
        let envelope = Envelope(kind: kind, payload: payload.encoded(), signingKey: identity)
        let verified = try verify(envelope)
        let outcome = try database.apply(verified, now: clock(), quotas: quotas)
        switch outcome {
        case .inserted, .updated, .retracted:
            break
        case .quotaExceeded(let limit):
            throw NodeError.quotaExceeded(limit: limit)
        case .rejected(let e):
            throw NodeError.invalid(e)
        default:
            throw NodeError.conflict("\(kind) not stored: \(outcome)")
        }
        if !recipients.isEmpty { try database.enqueue(verified.id, to: recipients, now: clock()) }
        await publishHandler?(verified)
        return verified
    }
}
