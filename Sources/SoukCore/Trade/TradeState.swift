/// The state of a trade: a pure function of its verified steps and resolution signatures
/// (DESIGN invariant 6, `Specs/trade.md` §5–§7). Buyer, seller and arbiter compute the same value
/// from the same sets, whatever the order, duplication or delay in which they arrived; no field
/// depends on when this node received anything. `now` enters only the advice (`nextActions`,
/// `dueDefault`, `stalled`), never the state.
public struct TradeState: Sendable, Equatable {
    public enum Phase: String, Sendable, CaseIterable {
        case ordered
        case accepted
        case arbiterAcknowledged = "arbiter_acknowledged"
        case paymentClaimed = "payment_claimed"
        case paymentConfirmed = "payment_confirmed"
        case fulfilled
        case disputed
        case settled
        case cancelled
        case declined
        case expired
        /// Two different resolutions each carry two parties' signatures: one key signed both.
        case conflict

        public var isFinal: Bool {
            switch self {
            case .settled, .cancelled, .declined, .expired, .conflict: return true
            default: return false
            }
        }
    }

    /// One resolution and the roles whose signatures it carries.
    public struct Signed: Sendable, Equatable {
        public let resolution: TradeResolution
        public let roles: [TradeRole]
        /// The signature objects, by role.
        public let signatures: [TradeRole: ObjectID]
        /// Every key that signed it (the arbiter role may have two: the primary and the fallback).
        public let signers: Set<NodeID>
    }

    /// A step in the timeline, with why it does not count when it does not.
    public struct TimelineEntry: Sendable, Equatable {
        public let step: SignedStep
        public let role: TradeRole
        /// `nil` when the step counts.
        public let void: String?
    }

    public let tradeID: ObjectID
    public let network: String
    public let order: TradeOrder
    public let orderedAt: UInt64
    public let parties: TradeParties
    public let phase: Phase
    public let timeline: [TimelineEntry]
    /// The settling resolution (phase `settled`).
    public let settlement: Signed?
    /// Every resolution with two or more parties' signatures (two or more: phase `conflict`).
    public let settled: [Signed]
    /// Resolutions signed by one party so far.
    public let proposals: [Signed]
    /// Resolutions that do not fit the order (wrong amounts or fee) or were signed by a fallback
    /// arbiter that had not taken over: kept, never counted.
    public let ignoredResolutions: [SignedResolution]
    /// The fallback arbiter took over (acknowledged after the primary's deadline lapsed).
    public let fallbackActive: Bool

    // Times of the steps that count (earliest of each type), for deadlines.
    public let acceptedAt: UInt64?
    public let acknowledgedAt: UInt64?
    public let paymentClaimedAt: UInt64?
    public let paymentConfirmedAt: UInt64?
    public let fulfilledAt: UInt64?
    public let receivedAt: UInt64?
    public let disputedAt: UInt64?

    /// Of two conflicting settlements, the roles whose one key signed both: the equivocation
    /// proof. Empty when the arbiter role's signatures came from two keys (the primary and the
    /// fallback arbiter) and nobody else signed both.
    public var equivocators: [TradeRole] {
        guard settled.count >= 2 else { return [] }
        var both: Set<TradeRole> = []
        for i in 0..<settled.count {
            for j in (i + 1)..<settled.count {
                for key in settled[i].signers.intersection(settled[j].signers) {
                    if let role = parties.role(of: key) { both.insert(role == .fallbackArbiter ? .arbiter : role) }
                }
            }
        }
        return TradeRole.allCases.filter(both.contains)
    }

    /// Computes the state.
    /// - Parameters:
    ///   - order: the order step (its id is the trade id).
    ///   - steps: any steps; those of other trades, unknown authors or with parents not in the set
    ///     are left out (the store holds the latter until their parents arrive).
    ///   - resolutions: resolution signatures; those of other trades or by non-parties are left out.
    public static func fold(order: SignedStep, steps: [SignedStep], resolutions: [SignedResolution]) -> TradeState {
        guard let body = order.step.order else { preconditionFailure("fold needs an order step") }
        let tradeID = order.id
        let parties = TradeParties(buyer: order.author, order: body)
        let d = body.deadlines

        // Steps of this trade, deduplicated, that pass the structural rules with parents present.
        var byID: [ObjectID: SignedStep] = [:]
        for s in steps where s.id != tradeID && s.step.tradeID == tradeID && parties.role(of: s.author) != nil {
            byID[s.id] = s
        }
        var structural: [ObjectID: Bool] = [:]
        func isStructural(_ id: ObjectID) -> Bool {
            if id == tradeID { return true }
            if let known = structural[id] { return known }
            structural[id] = false  // no cycles: ids are hashes of contents naming their parents
            guard let s = byID[id] else { return false }
            guard s.step.parents.allSatisfy({ isStructural($0) }) else { return false }
            let parents = s.step.parents.map { $0 == tradeID ? order.step : byID[$0]!.step }
            let ok =
                (try? TradeRules.check(
                    s.step, author: s.author, order: order.step, parties: parties, tradeID: tradeID,
                    parentTypes: parents.map(\.type), parentTimes: parents.map(\.createdAt))) != nil
            structural[id] = ok
            return ok
        }
        let candidates = byID.values.filter { isStructural($0.id) }.sorted(by: Self.chronological)
        func earliest(_ type: TradeStep.StepType, by key: NodeID? = nil, in set: [SignedStep]) -> UInt64? {
            set.filter { $0.step.type == type && (key == nil || $0.author == key) }.map(\.step.createdAt).min()
        }

        // When the fallback arbiter may take over (structural steps only, so no step's standing
        // depends on itself): the primary did not acknowledge within its deadline, or it did and a
        // dispute went unruled for the ruling deadline.
        let acceptedStructurally = earliest(.accept, in: candidates)
        let primaryAck = earliest(.arbiterAck, by: parties.arbiter, in: candidates)
        var lapse = UInt64.max
        if let a = acceptedStructurally {
            let ackDeadline = a.addingClamped(d.arbiterAck)
            if let k = primaryAck, k <= ackDeadline {
                let primaryAckIDs = Set(
                    candidates.filter { $0.step.type == .arbiterAck && $0.author == parties.arbiter }.map(\.id))
                let disputes = candidates.filter {
                    $0.step.type == .dispute && $0.step.parents.contains(where: primaryAckIDs.contains)
                }
                if let first = disputes.map(\.step.createdAt).min() { lapse = first.addingClamped(d.ruling) }
            } else {
                lapse = ackDeadline
            }
        }

        // Steps that count: structural, every parent counts, a fallback acknowledgement only after the lapse.
        var counts: [ObjectID: Bool] = [:]
        func isCounted(_ id: ObjectID) -> Bool {
            if id == tradeID { return true }
            if let known = counts[id] { return known }
            guard let s = byID[id], isStructural(id) else { return false }
            var ok = s.step.parents.allSatisfy { isCounted($0) }
            if s.step.type == .arbiterAck, s.author == parties.fallbackArbiter, s.step.createdAt < lapse { ok = false }
            if s.step.type == .expire, s.author == parties.fallbackArbiter, s.step.createdAt < lapse { ok = false }
            counts[id] = ok
            return ok
        }
        let valid = candidates.filter { isCounted($0.id) }
        let fallbackActive = valid.contains { $0.step.type == .arbiterAck && $0.author == parties.fallbackArbiter }

        let acceptedAt = earliest(.accept, in: valid)
        let acknowledgedAt = earliest(.arbiterAck, in: valid)
        let claimedAt = earliest(.paymentClaim, in: valid)
        let confirmedAt = earliest(.paymentConfirm, in: valid)
        let fulfilledAt = earliest(.fulfil, in: valid)
        let receivedAt = earliest(.received, in: valid)
        let disputedAt = earliest(.dispute, in: valid)
        // An expiry is judged against the deadline as it stood at the expiry's own time: a step
        // dated later (an acknowledgement arriving late) does not undo a closed trade.
        func expiryDeadline(at time: UInt64) -> UInt64 {
            let before = valid.filter { $0.step.createdAt <= time }
            if let k = earliest(.arbiterAck, in: before) { return k.addingClamped(d.payment) }
            if let a = earliest(.accept, in: before) { return a.addingClamped(d.arbiterAck) }
            return order.step.createdAt.addingClamped(d.accept)
        }

        // Why each step does not count, for the timeline.
        var voidReason: [ObjectID: String] = [:]
        var waitingMemo: [ObjectID: Bool] = [:]
        func waits(_ id: ObjectID) -> Bool {
            if id == tradeID { return false }
            if let known = waitingMemo[id] { return known }
            guard let s = byID[id] else { return true }
            waitingMemo[id] = false  // no cycles (ids hash their parents); a guard all the same
            let w = s.step.parents.contains { waits($0) }
            waitingMemo[id] = w
            return w
        }
        for s in byID.values {
            if !isStructural(s.id) {
                voidReason[s.id] = waits(s.id) ? "waits for a parent step" : "breaks the trade's rules"
            } else if !isCounted(s.id) {
                voidReason[s.id] =
                    s.step.type == .arbiterAck && s.author == parties.fallbackArbiter
                    ? "the fallback arbiter acknowledged before the primary's deadline lapsed"
                    : "follows a step that does not count"
            }
        }
        // What a closing step is judged against is what existed at its own time: a step dated
        // later never reopens a closed trade.
        //  - A cancel counts unless payment was claimed, the goods fulfilled or a dispute opened
        //    by then.
        //  - A decline counts only if the seller never accepted (then no payment can follow it).
        //  - An expiry counts once its deadline passed, unless payment was claimed, the goods
        //    fulfilled or a dispute opened by then (it closes unpaid trades only).
        func progressed(by time: UInt64, _ types: Set<TradeStep.StepType>) -> Bool {
            valid.contains { types.contains($0.step.type) && $0.step.createdAt <= time }
        }
        // A cancel never outweighs a payment claim, whenever dated (a back-dated cancel cannot
        // undo a paid trade), nor a fulfilment or dispute dated at or before it.
        func cancelCounts(_ s: SignedStep) -> Bool {
            claimedAt == nil && !progressed(by: s.step.createdAt, [.fulfil, .dispute])
        }
        func expireCounts(_ s: SignedStep) -> Bool {
            s.step.createdAt >= expiryDeadline(at: s.step.createdAt)
                && !progressed(by: s.step.createdAt, [.paymentClaim, .fulfil, .dispute])
        }
        let cancelEffective = valid.contains { $0.step.type == .cancel && cancelCounts($0) }
        let declineEffective = valid.contains { $0.step.type == .decline } && acceptedAt == nil
        let expireEffective = valid.contains { $0.step.type == .expire && expireCounts($0) }
        for s in valid {
            switch s.step.type {
            case .cancel where !cancelCounts(s):
                voidReason[s.id] = "payment was claimed, the goods fulfilled or a dispute opened by then"
            case .decline where acceptedAt != nil: voidReason[s.id] = "the seller had accepted the order"
            case .expire where s.step.createdAt < expiryDeadline(at: s.step.createdAt):
                voidReason[s.id] = "signed before the deadline it invokes"
            case .expire where !expireCounts(s):
                voidReason[s.id] = "payment was claimed, the goods fulfilled or a dispute opened by then"
            default: break
            }
        }
        for s in byID.values where s.step.type == .expire && s.author == parties.fallbackArbiter && !isCounted(s.id) {
            if isStructural(s.id) { voidReason[s.id] = "the fallback arbiter had not taken over" }
        }

        // Resolutions: group identical payloads; count distinct roles.
        var groups: [TradeResolution: [TradeRole: ObjectID]] = [:]
        var signerKeys: [TradeResolution: Set<NodeID>] = [:]
        var ignored: [SignedResolution] = []
        var seenSignatures: Set<ObjectID> = []
        for r in resolutions.sorted(by: { $0.id < $1.id }) where seenSignatures.insert(r.id).inserted {
            guard r.resolution.tradeID == tradeID, r.resolution.network == order.step.network,
                let role = parties.role(of: r.signer)
            else { continue }
            guard r.resolution.fits(body), role != .fallbackArbiter || fallbackActive else {
                ignored.append(r)
                continue
            }
            let counted: TradeRole = role == .fallbackArbiter ? .arbiter : role
            if groups[r.resolution, default: [:]][counted] == nil { groups[r.resolution, default: [:]][counted] = r.id }
            signerKeys[r.resolution, default: []].insert(r.signer)
        }
        let signed = groups.map { r, sigs in
            Signed(
                resolution: r, roles: TradeRole.allCases.filter { sigs[$0] != nil }, signatures: sigs,
                signers: signerKeys[r] ?? [])
        }.sorted { $0.resolution.hash.lexicographicallyPrecedes($1.resolution.hash) }
        let settled = signed.filter { $0.roles.count >= 2 }
        let proposals = signed.filter { $0.roles.count < 2 }

        let phase: Phase
        if settled.count >= 2 {
            phase = .conflict
        } else if settled.count == 1 {
            phase = .settled
        } else if cancelEffective {
            phase = .cancelled
        } else if declineEffective {
            phase = .declined
        } else if expireEffective {
            phase = .expired
        } else if disputedAt != nil {
            phase = .disputed
        } else if fulfilledAt != nil {
            phase = .fulfilled
        } else if confirmedAt != nil {
            phase = .paymentConfirmed
        } else if claimedAt != nil {
            phase = .paymentClaimed
        } else if acknowledgedAt != nil {
            phase = .arbiterAcknowledged
        } else if acceptedAt != nil {
            phase = .accepted
        } else {
            phase = .ordered
        }
        if phase == .settled || phase == .conflict {
            for s in valid where s.step.type == .dispute || s.step.type == .cancel || s.step.type == .expire {
                voidReason[s.id] = voidReason[s.id] ?? "the trade is settled"
            }
        }
        let timeline =
            [TimelineEntry(step: order, role: .buyer, void: nil)]
            + byID.values.sorted(by: Self.chronological).map {
                TimelineEntry(step: $0, role: parties.role(of: $0.author)!, void: voidReason[$0.id])
            }
        return TradeState(
            tradeID: tradeID, network: order.step.network, order: body, orderedAt: order.step.createdAt,
            parties: parties, phase: phase, timeline: timeline, settlement: settled.count == 1 ? settled[0] : nil,
            settled: settled, proposals: proposals, ignoredResolutions: ignored, fallbackActive: fallbackActive,
            acceptedAt: acceptedAt, acknowledgedAt: acknowledgedAt, paymentClaimedAt: claimedAt,
            paymentConfirmedAt: confirmedAt, fulfilledAt: fulfilledAt, receivedAt: receivedAt, disputedAt: disputedAt)
    }

    static func chronological(_ a: SignedStep, _ b: SignedStep) -> Bool {
        a.step.createdAt != b.step.createdAt ? a.step.createdAt < b.step.createdAt : a.id < b.id
    }
}

extension UInt64 {
    /// `self + other`, or `UInt64.max` on overflow.
    func addingClamped(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
