import HubCore

/// When a failed job runs again: exponential backoff with jitter, so that jobs failing
/// together (a third party down) don't all return at the same instant.
public struct RetryPolicy: Sendable {
    public var base: Duration
    public var maximum: Duration
    /// ± this share of the delay, drawn at random.
    public var jitter: Double

    public init(base: Duration = .seconds(1), maximum: Duration = .seconds(3600), jitter: Double = 0.2) {
        self.base = base
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The delay after failed attempt number `attempt` (1-based); `unit` is a random draw in 0...1.
    public func delay(afterAttempt attempt: Int, unit: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let raw = min(base.inSeconds * Double(1 << min(exponent, 40)), maximum.inSeconds)
        let factor = 1 + jitter * (2 * min(max(unit, 0), 1) - 1)
        return .milliseconds(Int64(raw * factor * 1000))
    }

    public func delay(afterAttempt attempt: Int) -> Duration {
        delay(afterAttempt: attempt, unit: Double.random(in: 0...1))
    }

}
