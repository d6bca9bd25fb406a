import Foundation
import HubCore
import HubStore
import Hummingbird
import Synchronization

/// A token bucket per key (an API key, a client address), in this process: `rate` a second
/// on average, bursts of `burst`. At most `capacity` buckets are kept: past it, the buckets
/// that have refilled (which hold nothing a fresh one would not) are dropped first, then the
/// oldest, so keys an attacker invents cannot grow it without bound.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    let rate: Double
    let burst: Double
    let capacity: Int
    private let buckets = Mutex<[Key: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    init(rate: Double, burst: Double, capacity: Int = 100_000) {
        self.rate = rate
        self.burst = burst
        self.capacity = max(1, capacity)
    }

    /// nil when the request may go ahead (a token is spent); otherwise the seconds until a
    /// token is free.
    func take(_ key: Key, now: ContinuousClock.Instant = .now) -> Double? {
        spend(key, now: now, consume: true)
    }

    /// The same answer as `take`, without spending a token.
    func peek(_ key: Key, now: ContinuousClock.Instant = .now) -> Double? {
        spend(key, now: now, consume: false)
    }

    private func spend(_ key: Key, now: ContinuousClock.Instant, consume: Bool) -> Double? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? (burst, now)
            bucket.tokens = min(burst, bucket.tokens + Self.seconds(now - bucket.at) * rate)
            bucket.at = now
            defer {
                if consume {
                    buckets[key] = bucket
                    if buckets.count > capacity { evict(&buckets, now: now) }
                }
            }
            if bucket.tokens >= 1 {
                if consume { bucket.tokens -= 1 }
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }

    private func evict(_ buckets: inout [Key: (tokens: Double, at: ContinuousClock.Instant)], now: ContinuousClock.Instant) {
        buckets = buckets.filter { $0.value.tokens + Self.seconds(now - $0.value.at) * rate < burst }
        while buckets.count > capacity, let oldest = buckets.min(by: { $0.value.at < $1.value.at })?.key {
            buckets[oldest] = nil
        }
    }

    /// How many buckets are held, for tests.
    var count: Int { buckets.withLock { $0.count } }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let limiter: RateLimiter<UUID>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let key = context.identity?.keyID, let wait = limiter.take(key) {
            let seconds = max(1, Int(wait.rounded(.up)))
            throw Problem(status: .tooManyRequests, code: .rateLimited, title: "Too many requests",
                          detail: "this API key is over its limit of \(Int(limiter.rate)) requests a second; retry after \(seconds) s",
                          headers: [("Retry-After", "\(seconds)")])
        }
        return try await next(request, context)
    }
}
