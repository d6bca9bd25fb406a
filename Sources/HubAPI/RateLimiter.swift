import Foundation
import HubStore
import Hummingbird
import Synchronization

/// A token bucket per API key, in this process: `rate` requests a second on average, bursts
/// of `burst`. Over the limit: 429 with `Retry-After`.
final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    private let buckets = Mutex<[UUID: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// nil when the request may go ahead; otherwise the seconds until a token is free.
    func take(_ key: UUID, now: ContinuousClock.Instant = .now) -> Double? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? (burst, now)
            let elapsed = Double((now - bucket.at).components.seconds) + Double((now - bucket.at).components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
            bucket.at = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }
}

struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let key = context.identity?.keyID, let wait = limiter.take(key) {
            let seconds = max(1, Int(wait.rounded(.up)))
            throw Problem(status: .tooManyRequests, code: "rate_limited", title: "Too many requests",
                          detail: "this API key is over its limit of \(Int(limiter.rate)) requests a second; retry after \(seconds) s",
                          headers: [("Retry-After", "\(seconds)")])
        }
        return try await next(request, context)
    }
}
