/// A token bucket: `rate` tokens per second, holding at most `burst`.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var last: Double

    public init(rate: Double, burst: Double, now: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now
    }

    /// Takes `cost` tokens; false (and nothing taken) when there are not enough.
    public mutating func take(_ cost: Double, now: Double) -> Bool {
        tokens = min(burst, tokens + max(0, now - last) * rate)
        last = now
        guard tokens >= cost else { return false }
        tokens -= cost
        return true
    }
}
