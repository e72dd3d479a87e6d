import Foundation
import Logging
public import SoukCore
import SoukCrypto
public import SoukStore

/// What `trade.order` asks for.
public struct OrderRequest: Sendable, Equatable {
    public var listing: ListingID
    public var quantity: UInt64
    /// One of the arbiters the seller's profile accepts; `nil` picks the first that takes the trade.
    public var arbiter: NodeID?
    public var fallbackArbiter: NodeID?
    public var rail: String
    /// `nil`: the defaults (`Specs/trade.md` §7), with the arbiter's promised response time.
    public var deadlines: TradeOrder.Deadlines?
    /// The delivery address or a note for the seller: sent sealed, only its hash is in the order.
    public var privateText: String

    public init(
        listing: ListingID, quantity: UInt64 = 1, arbiter: NodeID? = nil, fallbackArbiter: NodeID? = nil,
        rail: String, deadlines: TradeOrder.Deadlines? = nil, privateText: String = ""
    ) {
        self.listing = listing
        self.quantity = quantity
        self.arbiter = arbiter
        self.fallbackArbiter = fallbackArbiter
        self.rail = rail
        self.deadlines = deadlines
        self.privateText = privateText
    }
}

/// What `arbiter.register` publishes.
public struct ArbiterOffer: Sendable, Equatable {
    public var displayName: String
    public var feeBasisPoints: UInt64
    public var currencies: [ArbiterProfile.CurrencyTerms]
    public var languages: [String]
    public var terms: String
    public var responseHours: UInt64

    public init(
        displayName: String, feeBasisPoints: UInt64, currencies: [ArbiterProfile.CurrencyTerms],
        languages: [String] = [], terms: String = "", responseHours: UInt64 = 24
    ) {
        self.displayName = displayName
        self.feeBasisPoints = feeBasisPoints
        self.currencies = currencies
        self.languages = languages
        self.terms = terms
        self.responseHours = responseHours
    }
}

extension MarketNode {
    // MARK: Arbiters

    /// Signs and publishes this node's arbiter profile (the next version).
    public func registerArbiter(_ offer: ArbiterOffer) async throws -> StoredArbiter {
        let now = now()
        let current = try database.arbiters(now: 0, only: nodeID).first?.profile
        let profile = ArbiterProfile(
            version: (current?.version ?? 0) + 1, updatedAt: max(now, (current?.updatedAt ?? 0) + 1),
            expiresAt: max(now, (current?.updatedAt ?? 0) + 1) + ArbiterProfile.Limits.maxLifetime,
            displayName: offer.displayName, feeBasisPoints: offer.feeBasisPoints, currencies: offer.currencies,
            languages: offer.languages, terms: offer.terms, responseHours: offer.responseHours)
        do { try profile.validateFields() } catch { throw NodeError.invalid(error) }
        _ = try await publishObject(profile)
        logger.info("arbiter profile published", metadata: ["arbiter.version": "\(profile.version)"])
        guard let stored = try database.arbiters(now: now, only: nodeID).first else {
            throw NodeError.arbiterNotFound(nodeID)
        }
        return stored
    }

    /// Arbiter profiles held (not expired).
    public func arbiters() throws -> [StoredArbiter] { try database.arbiters(now: now()) }

    // MARK: Placing and moving trades

    /// Signs an order for a listing held here and sends it to the seller and the arbiters.
    /// - Throws: `NodeError` naming what is missing: the listing, the seller's accepted arbiters,
    ///   an arbiter profile that takes this amount, a rule the order breaks.
    public func placeOrder(_ request: OrderRequest) async throws -> StoredTrade {
        let now = now()
        let stored = try listing(request.listing)
        guard stored.seller != identity.publicKey else {
            throw NodeError.tradeActionRefused("this is your own listing; you cannot order from yourself")
        }
        let seller = NodeID(publicKey: stored.seller)!
        guard let sellerProfile = try database.profile(of: seller)?.profile, !sellerProfile.arbiters.isEmpty else {
            throw NodeError.tradeActionRefused(
                "the seller's node profile names no arbiter it accepts, so no trade with it is possible yet")
        }
        let accepted = sellerProfile.arbiters
        let (total, overflow) = stored.listing.price.minorUnits.multipliedReportingOverflow(by: request.quantity)
        guard !overflow, total <= Money.maxMinorUnits else {
            throw NodeError.invalid(ValidationError(.invalidOrder, "price × quantity overflows the largest amount"))
        }
        let currency = stored.listing.price.currency.code
        let arbiters = try database.arbiters(now: now)
        func terms(_ id: NodeID) -> ArbiterProfile? { arbiters.first { $0.signer == id }?.profile }
        let arbiter: NodeID
        if let chosen = request.arbiter {
            guard accepted.contains(chosen) else {
                throw NodeError.tradeActionRefused(
                    "the seller does not accept arbiter \(chosen); it accepts \(accepted.map(\.description).joined(separator: ", "))"
                )
            }
            arbiter = chosen
        } else {
            guard let first = accepted.first(where: { terms($0)?.fee(amount: total, currency: currency) != nil }) else {
                throw NodeError.tradeActionRefused(
                    "none of the seller's arbiters (\(accepted.count)) has a profile here that takes \(total) minor units of \(currency)"
                )
            }
            arbiter = first
        }
        guard let profile = terms(arbiter) else { throw NodeError.arbiterNotFound(arbiter) }
        guard let fee = profile.fee(amount: total, currency: currency) else {
            throw NodeError.tradeActionRefused(
                "arbiter \(profile.displayName) does not take trades of \(total) minor units of \(currency)")
        }
        if let fallback = request.fallbackArbiter {
            guard accepted.contains(fallback), fallback != arbiter else {
                throw NodeError.tradeActionRefused(
                    "the fallback arbiter must be another of the arbiters the seller accepts")
            }
        }
        var deadlines = request.deadlines ?? TradeOrder.Deadlines.standard
        if request.deadlines == nil { deadlines.arbiterAck = max(3600, profile.responseHours * 3600) }
        var privateBlob: [UInt8] = []
        var privateHash = [UInt8](repeating: 0, count: 32)
        if !request.privateText.isEmpty {
            let p = TradePrivate(salt: secureRandomBytes(16), text: request.privateText)
            guard p.text.utf8.count <= TradePrivate.maxTextBytes else {
                throw NodeError.invalid(
                    ValidationError(.invalidOrder, "private text is at most \(TradePrivate.maxTextBytes) bytes"))
            }
            privateBlob = p.encoded
            privateHash = p.hash
        }
        let order = TradeOrder(
            listingEnvelope: stored.envelope, quantity: request.quantity, amount: total, currency: currency,
            seller: seller, arbiter: arbiter, fallbackArbiter: request.fallbackArbiter, arbiterFee: fee,
            rail: request.rail, deadlines: deadlines, privateHash: privateHash, nonce: secureRandomBytes(16))
        let step = TradeStep(network: network.rawValue, createdAt: now, order: order)
        let parties = TradeParties(buyer: nodeID, order: order)
        let envelope = Envelope(kind: .tradeStep, payload: step.encoded(), signingKey: identity)
        if !privateBlob.isEmpty { try database.storeTradePrivate(envelope.id, body: privateBlob) }
        let verified = try await publishObject(step, to: parties.all.filter { $0 != nodeID })
        logger.info("order placed", metadata: ["trade.id": "\(verified.id)", "trade.amount": "\(total) \(currency)"])
        return try trade(verified.id)
    }

    /// One trade held here. - Throws: `NodeError.tradeNotFound`.
    public func trade(_ id: ObjectID) throws -> StoredTrade {
        guard let t = try database.trade(id) else { throw NodeError.tradeNotFound(id) }
        return t
    }

    /// Signs a step of a trade (not an order) as this node's role allows, and sends it to the others.
    /// - Throws: `NodeError.tradeActionRefused` with the reason when the state or the role does not allow it.
    public func tradeStep(_ tradeID: ObjectID, _ type: TradeStep.StepType, text: String = "") async throws
        -> StoredTrade
    {
        let now = now()
        let state = try trade(tradeID).state
        let role = try myRole(state)
        let parents = try parents(for: type, in: state, role: role, now: now)
        // Never dated before a step it follows, even when the other party's clock runs ahead.
        let parentTimes = state.timeline.filter { parents.contains($0.step.id) }.map(\.step.step.createdAt)
        let step = TradeStep(
            network: network.rawValue, type: type, createdAt: max(now, parentTimes.max() ?? 0), tradeID: tradeID,
            parents: parents, text: text)
        _ = try await publishObject(step, to: state.parties.all.filter { $0 != nodeID })
        logger.info("trade step signed", metadata: ["trade.id": "\(tradeID)", "trade.step": "\(type)"])
        return try trade(tradeID)
    }

    func myRole(_ state: TradeState) throws -> TradeRole {
        guard let role = state.role(of: nodeID) else {
            throw NodeError.tradeActionRefused("this node is not a party of trade \(state.tradeID)")
        }
        return role
    }

    /// The parents a new step of `type` names: the counted step it must follow (the earliest of
    /// that type) and the latest counted step, if another.
    func parents(for type: TradeStep.StepType, in state: TradeState, role: TradeRole, now: UInt64) throws
        -> [ObjectID]
    {
        func refuse(_ m: String) -> NodeError { .tradeActionRefused(m) }
        guard !state.phase.isFinal else {
            throw refuse("trade \(state.tradeID) is \(state.phase.rawValue): no more steps")
        }
        guard TradeRules.authors(type).contains(role) else {
            let who = TradeRules.authors(type).map(\.rawValue).sorted().joined(separator: " or ")
            throw refuse("only the \(who) may \(type) (this node is the \(role.rawValue))")
        }
        let counted = state.timeline.filter { $0.void == nil }.map(\.step)
        if counted.contains(where: { $0.step.type == type && $0.author == nodeID }) {
            throw refuse("this node already signed a \(type) step for this trade")
        }
        switch type {
        case .cancel:
            guard state.paymentClaimedAt == nil, state.fulfilledAt == nil, state.disputedAt == nil else {
                throw refuse(
                    "payment was claimed, the goods fulfilled or a dispute opened: the trade can no longer be cancelled"
                )
            }
        case .decline:
            guard state.phase == .ordered else {
                throw refuse("the order is \(state.phase.rawValue): only an order not yet accepted can be declined")
            }
        case .accept:
            guard state.phase == .ordered else { throw refuse("the order is already \(state.phase.rawValue)") }
            // The seller's accept confirms the arbiters the order names: they must be ones its
            // profile accepts now.
            let accepted = (try database.profile(of: nodeID)?.profile.arbiters) ?? []
            let named = [state.parties.arbiter] + (state.parties.fallbackArbiter.map { [$0] } ?? [])
            if let stranger = named.first(where: { !accepted.contains($0) }) {
                throw refuse(
                    "the order names arbiter \(stranger), which your profile does not accept; decline it, or add the arbiter with `souk profile set --arbiter`"
                )
            }
        case .expire:
            guard let due = state.deadline, [.ordered, .accepted, .arbiterAcknowledged].contains(state.phase) else {
                throw refuse("only an order not yet paid can expire")
            }
            if role == .fallbackArbiter, !state.fallbackActive {
                throw refuse("the fallback arbiter acts only after it took over")
            }
            guard now >= due.end else {
                throw refuse("the deadline for \(due.awaiting) is \(due.end) (Unix time); it has not passed yet")
            }
        case .arbiterAck where role == .fallbackArbiter:
            guard let due = state.deadline, [.accepted, .disputed].contains(state.phase), now >= due.end else {
                throw refuse("the fallback arbiter may act only after the primary arbiter's deadline lapsed")
            }
        default:
            break
        }
        guard let required = TradeRules.requiredParent(type) else { return [state.tradeID] }
        let follow: ObjectID
        if required == .order {
            follow = state.tradeID
        } else if let s = counted.first(where: { $0.step.type == required }) {
            follow = s.id
        } else {
            let awaited: String
            switch required {
            case .accept: awaited = "the seller has not accepted the order yet"
            case .arbiterAck:
                awaited = "the arbiter has not acknowledged the trade yet (no payment, fulfilment or dispute before it)"
            case .paymentClaim: awaited = "the buyer has not claimed payment yet"
            case .fulfil: awaited = "the seller has not fulfilled yet"
            default: awaited = "a \(required) step is missing"
            }
            throw refuse("cannot \(type) now: \(awaited)")
        }
        let latest = counted.last.map(\.id)
        return latest != nil && latest != follow && latest != state.tradeID ? [follow, latest!] : [follow]
    }

    // MARK: Resolutions

    /// Proposes (signs) a resolution of `outcome`; `buyerShare` is the buyer's part of a split.
    public func proposeResolution(_ tradeID: ObjectID, _ outcome: TradeResolution.Outcome, buyerShare: UInt64 = 0)
        async throws -> StoredTrade
    {
        let state = try trade(tradeID).state
        // The arbiter's fee is owed when it worked on the trade: a dispute.
        let chargeFee = state.disputedAt != nil
        guard
            let r = TradeResolution.make(
                outcome, tradeID: tradeID, network: state.network, order: state.order, buyerShare: buyerShare,
                chargeFee: chargeFee)
        else {
            let net = state.order.amount - (chargeFee ? state.order.arbiterFee : 0)
            throw NodeError.invalid(
                ValidationError(
                    .invalidResolution,
                    "the buyer's share must be at most \(net) minor units"
                        + (chargeFee ? " (the amount less the arbiter's fee)" : "")))
        }
        return try await signResolution(r, state: state)
    }

    /// The buyer releases the payment to the seller: signs the release (the seller's node
    /// countersigns it automatically). - Throws: `.tradeActionRefused` for anyone but the buyer.
    public func release(_ tradeID: ObjectID) async throws -> StoredTrade {
        let state = try trade(tradeID).state
        guard try myRole(state) == .buyer else {
            throw NodeError.tradeActionRefused(
                "only the buyer releases the payment; a seller or arbiter proposes a release with trade.propose")
        }
        return try await proposeResolution(tradeID, .release)
    }

    /// Countersigns a resolution another party proposed: the one whose hash starts with
    /// `hashPrefix` (hex), or the only one pending.
    public func signProposal(_ tradeID: ObjectID, hashPrefix: String? = nil) async throws -> StoredTrade {
        let state = try trade(tradeID).state
        let candidates = state.proposals.filter { p in
            hashPrefix.map { Hex.encode(p.resolution.hash).hasPrefix($0.lowercased()) } ?? true
        }
        guard candidates.count == 1 else {
            throw NodeError.tradeActionRefused(
                candidates.isEmpty
                    ? "no proposed resolution to sign for trade \(tradeID)"
                    : "\(candidates.count) proposals are pending: name one by its hash")
        }
        return try await signResolution(candidates[0].resolution, state: state)
    }

    /// Signs `r` after recording it as this node's one resolution for the trade (never two).
    func signResolution(_ r: TradeResolution, state: TradeState) async throws -> StoredTrade {
        let role = try myRole(state)
        guard state.phase != .settled, state.phase != .conflict else {
            throw NodeError.tradeActionRefused("trade \(state.tradeID) is already \(state.phase.rawValue)")
        }
        if role == .fallbackArbiter, !state.fallbackActive {
            throw NodeError.tradeActionRefused(
                "the fallback arbiter must take over first (acknowledge after the primary arbiter's deadline)")
        }
        if role == .arbiter, state.fallbackActive {
            throw NodeError.tradeActionRefused(
                "the fallback arbiter took this trade over; the primary arbiter stands down")
        }
        guard r.fits(state.order) else {
            throw NodeError.invalid(
                ValidationError(.invalidResolution, "the amounts do not add up to the order's amount"))
        }
        guard try database.recordSigning(r, now: now()) else { throw NodeError.alreadySignedOther(state.tradeID) }
        do {
            _ = try await publishObject(r, to: state.parties.all.filter { $0 != nodeID })
        } catch NodeError.conflict {
            // Signed earlier (the same bytes): already stored, nothing more to send.
        }
        logger.info(
            "resolution signed",
            metadata: [
                "trade.id": "\(state.tradeID)", "resolution": "\(r.outcome)",
                "resolution.hash": "\(Hex.encode(r.hash).prefix(16))",
            ])
        return try trade(state.tradeID)
    }

    // MARK: What the node does by itself

    /// Acts on a trade as this node's role and settings say (`Specs/trade.md` §6–§7): countersign a
    /// resolution that pays this node in full; as the arbiter (with `arbiterMode`), acknowledge an
    /// accepted order and sign a due default exit; as the fallback arbiter, take over after the
    /// primary's deadline lapsed. Records 50 % and 90 % deadline notices.
    /// - Returns: what it did, for logs and tests.
    @discardableResult
    public func tradeAutomation(_ tradeID: ObjectID) async -> [String] {
        var done: [String] = []
        do {
            let stored = try trade(tradeID)
            let state = stored.state
            guard let role = state.role(of: nodeID) else { return [] }
            let now = now()
            // Set first: a step this pass signs changes the trade, which makes it due again.
            try database.setNextCheck(tradeID, at: Self.nextCheck(stored, now: now))
            if let due = state.deadline, !state.phase.isFinal {
                for (threshold, label) in [(0.5, "50"), (0.9, "90"), (1.0, "passed")]
                where due.elapsed(now) >= threshold {
                    let notice = "\(state.phase.rawValue):\(label)"
                    if try database.recordNotice(tradeID, notice, now: now) {
                        logger.notice(
                            "trade deadline \(label == "passed" ? "passed" : "\(label) % gone")",
                            metadata: [
                                "trade.id": "\(tradeID)", "trade.awaiting": "\(due.awaiting)",
                                "trade.deadline": "\(due.end)",
                            ])
                        done.append("notice \(notice)")
                    }
                }
            }
            if state.phase.isFinal { return done }
            let signed = try database.signedResolution(tradeID)
            // A resolution that pays this node in full is countersigned: a release for the seller,
            // a refund for the buyer (the rules of those outcomes make them pay one side only).
            if signed == nil {
                let mine: TradeResolution.Outcome? = role == .seller ? .release : role == .buyer ? .refund : nil
                if let mine, let full = state.proposals.first(where: { $0.resolution.outcome == mine })?.resolution {
                    _ = try await signResolution(full, state: state)
                    return done + ["countersigned \(mine)"]
                }
            }
            let actingArbiter = role == .arbiter || (role == .fallbackArbiter && state.fallbackActive)
            guard arbiterMode, role == .arbiter || role == .fallbackArbiter, let due = state.deadline else {
                return done
            }
            // The arbiter judges a deadline from when it received the step that started it, too:
            // a step dated in the past by its signer does not shorten anyone's window.
            let received = due.startStep.flatMap { stored.receivedAt[$0] } ?? due.start
            let lapsed = now >= due.end && now >= received.addingReportingOverflow(due.end - due.start).partialValue
            if state.phase == .accepted, role == .arbiter, now < due.end, arbiterTakes(state.order) {
                _ = try await tradeStep(tradeID, .arbiterAck)
                return done + ["acknowledged"]
            }
            if role == .fallbackArbiter, !state.fallbackActive, [.accepted, .disputed].contains(state.phase), lapsed,
                arbiterTakes(state.order)
            {
                _ = try await tradeStep(
                    tradeID, .arbiterAck, text: "taking over: the primary arbiter's deadline lapsed")
                return done + ["took over"]
            }
            // Once the fallback took over it acts alone; and while one is named, an acknowledgement
            // the primary missed is the fallback's to take over, not a reason to expire the trade.
            let primaryStandsDown = role == .arbiter && state.fallbackActive
            guard actingArbiter, !primaryStandsDown, autoDefaults, lapsed, let exit = state.dueDefault(now: now),
                !(exit == .expire && state.phase == .accepted && state.parties.fallbackArbiter != nil
                    && role == .arbiter)
            else { return done }
            switch exit {
            case .expire:
                _ = try await tradeStep(tradeID, .expire, text: "the deadline passed")
            case .refund, .release:
                guard signed == nil,
                    let r = TradeResolution.make(
                        exit == .refund ? .refund : .release, tradeID: tradeID, network: state.network,
                        order: state.order, chargeFee: state.disputedAt != nil)
                else { return done }
                _ = try await signResolution(r, state: state)
            }
            return done + ["default \(exit.rawValue)"]
        } catch {
            logger.debug("trade automation skipped", metadata: ["trade.id": "\(tradeID)", "error": "\(error)"])
            return done
        }
    }

    /// Whether this node's own arbiter profile takes a trade of the order's amount and fee.
    func arbiterTakes(_ order: TradeOrder) -> Bool {
        guard let mine = try? database.arbiters(now: now(), only: nodeID).first?.profile,
            let fee = mine.fee(amount: order.amount, currency: order.currency)
        else { return false }
        return order.arbiterFee >= fee
    }

    /// Queues, for the other parties, every object this node signed in its open trades (those
    /// already queued are left as they are): repairs a crash between storing and queuing.
    public func requeueOwnTradeObjects() async {
        guard let open = try? database.trades(openOnly: true, limit: 10_000) else { return }
        let now = now()
        for t in open {
            guard let trade = try? database.trade(t.tradeID) else { continue }
            let others = trade.state.parties.all.filter { $0 != nodeID }
            for (id, bytes) in trade.envelopes where (try? Envelope(decoding: bytes))?.signer == identity.publicKey {
                try? database.enqueue(id, to: others, now: now)
            }
        }
    }

    /// When the node next needs to look at a trade by itself: the next deadline notice (50 %,
    /// 90 %, passed), the default exit as the arbiter counts it (from when it received the step
    /// that started the window), and the stalled mark; a minute from now once all have passed.
    static func nextCheck(_ stored: StoredTrade, now: UInt64) -> UInt64 {
        guard let d = stored.state.deadline else { return .max }
        let w = d.end &- d.start
        let received = d.startStep.flatMap { stored.receivedAt[$0] } ?? d.start
        let candidates = [
            d.start.addingReportingOverflow((w + 1) / 2).partialValue,
            d.start.addingReportingOverflow((w * 9 + 9) / 10).partialValue, d.end,
            received.addingReportingOverflow(w).partialValue,
            d.end.addingReportingOverflow(stored.state.order.deadlines.ruling).partialValue,
        ]
        return candidates.filter { $0 > now }.min() ?? now + 60
    }

    /// Runs `tradeAutomation` on the open trades that are due (a deadline threshold reached, or
    /// changed since the last look); the trade service calls this every second or two.
    /// - Returns: how many trades it acted on.
    public func tradeTick(limit: Int = 500) async -> Int {
        guard let due = try? database.dueTrades(now: now(), limit: limit) else { return 0 }
        var acted = 0
        for id in due where !(await tradeAutomation(id)).isEmpty { acted += 1 }
        return acted
    }
}
