/// The clock rules every kind shares (see `Specs/objects.md`, "Time").
public enum TimeRules {
    /// An object signed more than this far in the future (by the verifier's clock) is refused.
    public static let maxClockSkew: UInt64 = 600
    /// Timestamps before 2020-01-01 are refused as nonsense.
    public static let earliestTimestamp: UInt64 = 1_577_836_800

    /// Refuses a time before 2020 (`invalid_timestamps`, the signer's fault) or more than the skew
    /// ahead of `now` (`from_the_future`, not the sender's fault: clocks differ).
    /// - Parameters:
    ///   - field: the field's name in the messages.
    public static func check(_ time: UInt64, _ field: String, now: UInt64) throws(ValidationError) {
        guard time >= earliestTimestamp else {
            throw ValidationError(.invalidTimestamps, "\(field) is before 2020")
        }
        guard time <= now + maxClockSkew else {
            throw ValidationError(.fromTheFuture, "\(field) is \(time - now) s in the future")
        }
    }

    /// Refuses an object whose lifetime ended (`expired`, not the sender's fault).
    public static func checkNotExpired(_ expiresAt: UInt64, now: UInt64, what: String) throws(ValidationError) {
        guard expiresAt > now else { throw ValidationError(.expired, "\(what) expired at \(expiresAt)") }
    }
}
