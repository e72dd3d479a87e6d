public import SoukCore

/// How often one author may replace its objects of one kind, as accepted from the network
/// (DESIGN invariant 2: author quotas). Keyed by (kind, signer) and configured per kind; only
/// replacements count (a version above 1), so a node catching up on an author's first versions is
/// never throttled — the store's per-kind count quota bounds those.
public struct AuthorRateLimit: Sendable {
    /// At most `count` replacements in any `window` seconds.
    public struct Rule: Sendable, Equatable {
        public var count: Int
        public var window: Double
        public init(count: Int, window: Double) {
            self.count = count
            self.window = window
        }
    }

    struct Key: Hashable, Sendable {
        let kind: UInt8
        let signer: [UInt8]
    }

    public var rules: [UInt8: Rule]
    private var accepted: [Key: [Double]] = [:]

    /// 120 listing updates and 12 profile updates per author per hour.
    public static let defaultRules: [UInt8: Rule] = [
        ObjectKind.listing.rawValue: Rule(count: 120, window: 3_600),
        ObjectKind.nodeProfile.rawValue: Rule(count: 12, window: 3_600),
    ]

    public init(rules: [UInt8: Rule] = AuthorRateLimit.defaultRules) { self.rules = rules }

    /// Whether an object of `kind` by `signer` with this replaceable version may be stored now.
    /// - Returns: a refusal reason, or `nil` to accept.
    public mutating func refusal(kind: ObjectKind, signer: [UInt8], version: UInt64?, now: Double) -> String? {
        guard let rule = rules[kind.rawValue], let version, version > 1 else { return nil }
        let key = Key(kind: kind.rawValue, signer: signer)
        let recent = (accepted[key] ?? []).filter { $0 > now - rule.window }
        accepted[key] = recent.isEmpty ? nil : recent
        guard recent.count >= rule.count else { return nil }
        return "author exceeded \(rule.count) \(kind) updates per \(Int(rule.window)) s"
    }

    /// Whether `signer` has used up its replacements of `kind` in the window: the cheap check that
    /// comes first, so an object's payload is decoded for the limit only when it can matter.
    public func isAtLimit(kind: ObjectKind, signer: [UInt8], now: Double) -> Bool {
        guard let rule = rules[kind.rawValue], let times = accepted[Key(kind: kind.rawValue, signer: signer)] else {
            return false
        }
        return times.count(where: { $0 > now - rule.window }) >= rule.count
    }

    /// Counts a replacement that was stored.
    public mutating func record(kind: ObjectKind, signer: [UInt8], now: Double) {
        guard rules[kind.rawValue] != nil else { return }
        accepted[Key(kind: kind.rawValue, signer: signer), default: []].append(now)
    }

    /// Forgets authors with nothing in their window, so the table stays small.
    public mutating func prune(now: Double) {
        accepted = accepted.filter { key, times in
            let window = rules[key.kind]?.window ?? 0
            return times.contains { $0 > now - window }
        }
    }

    /// Authors currently tracked (for tests and stats).
    public var trackedAuthors: Int { accepted.count }
}
