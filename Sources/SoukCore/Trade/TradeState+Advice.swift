import SoukCrypto

/// What the parties may do next and by when (`Specs/trade.md` §7). Advice only: it reads the clock,
/// the state never does. Every non-final phase has a deadline and a default exit that needs no
/// missing party.
extension TradeState {
    /// Something a party may do now.
    public struct Action: Sendable, Equatable {
        /// The RPC method's short name: `accept`, `pay`, `release`, `propose`, `sign`, `expire`, …
        public let name: String
        public let by: TradeRole
        /// When the window for it closes (Unix seconds), if it has one.
        public let deadline: UInt64?
        /// One sentence for people.
        public let note: String
    }

    /// The deadline the current phase runs against: what is awaited, from when, until when.
    public struct Deadline: Sendable, Equatable {
        public let awaiting: String
        public let by: [TradeRole]
        public let start: UInt64
        public let end: UInt64
        /// The default exit once it passes.
        public let defaultExit: String
        /// The step whose time starts the window (the order for the first one).
        public var startStep: ObjectID? = nil

        /// The fraction of the window gone at `now` (0…, past 1 once it has passed).
        public func elapsed(_ now: UInt64) -> Double {
            end > start ? Double(Int64(clamping: now) - Int64(clamping: start)) / Double(end - start) : 1
        }
    }

    /// The deadline of the current phase, `nil` in a final phase, with the step that started it.
    public var deadline: Deadline? {
        guard var d = deadlineWindow else { return nil }
        let startType: TradeStep.StepType? = {
            switch phase {
            case .ordered: return .order
            case .accepted: return .accept
            case .arbiterAcknowledged: return .arbiterAck
            case .paymentClaimed, .paymentConfirmed: return .paymentClaim
            case .fulfilled: return .fulfil
            case .disputed: return .dispute
            default: return nil
            }
        }()
        d.startStep = timeline.first { $0.void == nil && $0.step.step.type == startType }?.step.id
        return d
    }

    var deadlineWindow: Deadline? {
        let d = order.deadlines
        switch phase {
        case .ordered:
            return Deadline(
                awaiting: "the seller's accept", by: [.seller], start: orderedAt,
                end: orderedAt.addingClamped(d.accept), defaultExit: "the order expires")
        case .accepted:
            let a = acceptedAt ?? orderedAt
            return Deadline(
                awaiting: "the arbiter's acknowledgement", by: [.arbiter], start: a, end: a.addingClamped(d.arbiterAck),
                defaultExit: parties.fallbackArbiter == nil
                    ? "the order expires" : "the fallback arbiter may take over, or the order expires")
        case .arbiterAcknowledged:
            let k = acknowledgedAt ?? orderedAt
            return Deadline(
                awaiting: "the buyer's payment", by: [.buyer], start: k, end: k.addingClamped(d.payment),
                defaultExit: "the order expires")
        case .paymentClaimed, .paymentConfirmed:
            let c = paymentClaimedAt ?? orderedAt
            return Deadline(
                awaiting: "the seller's fulfilment", by: [.seller], start: c, end: c.addingClamped(d.fulfilment),
                defaultExit: "refund, signed by the buyer and the arbiter")
        case .fulfilled:
            let f = fulfilledAt ?? orderedAt
            return Deadline(
                awaiting: "the buyer's release or dispute", by: [.buyer], start: f, end: f.addingClamped(d.inspection),
                defaultExit: "release, signed by the seller and the arbiter")
        case .disputed:
            let x = disputedAt ?? orderedAt
            return Deadline(
                awaiting: "the arbiter's ruling", by: [.arbiter], start: x, end: x.addingClamped(d.ruling),
                defaultExit: parties.fallbackArbiter == nil
                    ? "the buyer and the seller settle alone"
                    : "the fallback arbiter may take over, or the buyer and the seller settle alone")
        case .settled, .cancelled, .declined, .expired, .conflict:
            return nil
        }
    }

    /// The role `key` plays, or `nil`.
    public func role(of key: NodeID) -> TradeRole? { parties.role(of: key) }

    /// Whether `role` has signed a resolution of this trade.
    public func hasSigned(_ role: TradeRole) -> Bool {
        let counted: TradeRole = role == .fallbackArbiter ? .arbiter : role
        return (settled + proposals).contains { $0.roles.contains(counted) }
    }

    /// What `role` may do now, in the order a person would consider it.
    public func nextActions(for role: TradeRole, now: UInt64) -> [Action] {
        guard !phase.isFinal else { return [] }
        // The primary arbiter stands down once the fallback took over.
        if role == .arbiter && fallbackActive { return [] }
        let d = order.deadlines
        var out: [Action] = []
        func add(_ name: String, _ deadline: UInt64?, _ note: String) {
            out.append(Action(name: name, by: role, deadline: deadline, note: note))
        }
        let due = deadline
        let passed = due.map { now >= $0.end } ?? false
        let isArbiter = role == .arbiter || (role == .fallbackArbiter && fallbackActive)
        switch (phase, role) {
        case (.ordered, .seller):
            add("accept", due?.end, "accept the order")
            add("decline", due?.end, "decline the order")
        case (.ordered, .buyer), (.accepted, .buyer), (.arbiterAcknowledged, .buyer):
            if phase == .arbiterAcknowledged { add("pay", due?.end, "pay on the agreed rail, then claim payment") }
            add("cancel", nil, "cancel the order (possible until you claim payment)")
        case (.accepted, .arbiter):
            add("acknowledge", due?.end, "agree to arbitrate this trade")
        case (.accepted, .fallbackArbiter):
            if passed { add("acknowledge", nil, "the primary arbiter did not acknowledge in time: take over") }
        case (.arbiterAcknowledged, .seller), (.paymentClaimed, .seller), (.paymentConfirmed, .seller):
            if phase == .paymentClaimed {
                add(
                    "confirm_payment", (paymentClaimedAt ?? orderedAt).addingClamped(d.confirmation),
                    "confirm that the payment arrived")
            }
            add("fulfil", phase == .arbiterAcknowledged ? nil : due?.end, "ship or hand over, with tracking details")
        case (.fulfilled, .buyer):
            add("release", due?.end, "release the payment to the seller")
        case (.disputed, .arbiter), (.disputed, .fallbackArbiter):
            if isArbiter || (role == .fallbackArbiter && passed) {
                add("propose", due?.end, "rule: propose release, refund or a split")
            }
        default:
            break
        }
        if [.paymentClaimed, .paymentConfirmed, .fulfilled].contains(phase), role == .buyer || role == .seller {
            add("dispute", due?.end, "open a dispute with the arbiter")
        }
        if passed {
            switch phase {
            case .ordered, .accepted, .arbiterAcknowledged:
                if role != .fallbackArbiter || fallbackActive {
                    add("expire", nil, "the deadline passed: close the trade as expired")
                }
            case .paymentClaimed, .paymentConfirmed:
                if role == .buyer || isArbiter {
                    add("propose", nil, "the seller did not fulfil in time: propose a refund (the default exit)")
                }
            case .fulfilled:
                if role == .seller || isArbiter {
                    add("propose", nil, "the inspection window passed: propose a release (the default exit)")
                }
            default: break
            }
        }
        let counted: TradeRole = role == .fallbackArbiter ? .arbiter : role
        if !hasSigned(role), role != .fallbackArbiter || fallbackActive {
            for p in proposals where !p.roles.contains(counted) {
                add("sign", nil, "sign the proposed \(p.resolution.outcome) (\(Hex.short(p.resolution.hash)))")
            }
            if role == .buyer || role == .seller, phase != .ordered {
                add("propose", nil, "propose a settlement to the other party (release, refund or split)")
            }
        }
        var seen: Set<String> = []
        return out.filter { seen.insert($0.name + " " + $0.note).inserted }
    }

    /// The default exit an arbiter signs by itself once due (`Specs/trade.md` §7): a refund when the
    /// seller did not fulfil in time, a release when the buyer neither released nor disputed in the
    /// inspection window, an expiry when an early step's deadline passed; `nil` when none is due.
    public func dueDefault(now: UInt64) -> DefaultExit? {
        guard let due = deadline, now >= due.end else { return nil }
        switch phase {
        case .ordered, .accepted, .arbiterAcknowledged: return .expire
        case .paymentClaimed, .paymentConfirmed: return .refund
        case .fulfilled: return .release
        default: return nil
        }
    }

    public enum DefaultExit: String, Sendable, Equatable {
        case expire, refund, release
    }

    /// An open trade whose deadline and the default exit's own window (the ruling deadline) both
    /// passed: the parties the exit needs are not acting. Shown as stalled, with the proofs held;
    /// no way out is invented.
    public func stalled(now: UInt64) -> Bool {
        guard let due = deadline else { return false }
        return now >= due.end.addingClamped(order.deadlines.ruling)
    }
}

extension Hex {
    /// The first 8 bytes in hex, for messages.
    static func short(_ bytes: [UInt8]) -> String { Hex.encode(Array(bytes.prefix(8))) }
}
