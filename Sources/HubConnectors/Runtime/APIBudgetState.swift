import Foundation
import HubCore
import Synchronization

/// A read's `api_budget` at work: before each request the first policy matching it must have
/// room for the request's weight, or the request waits until it has; after each response the
/// API's own count (`ratelimit-remaining`, `ratelimit-reset`, a 429) tightens it. One per
/// `StreamReader`, shared by its concurrent requests, as the CDK keeps one per source; budgets
/// are not shared between workers (each job keeps within the API's limit on its own).
///
/// Windows run on the monotonic clock: a wall clock stepped by NTP must not free or freeze a
/// window. Every wait goes through `RetryDelay`, so none lasts more than an hour at a time.
final class APIBudgetState: Sendable {
    private let budget: APIBudget
    private let config: PyValue
    private let state = Mutex(State())

    private struct State {
        var evaluated: [Evaluated]?
    }

    /// A policy with its limits and weights evaluated, and its window.
    private struct Evaluated {
        var kind: Kind
        var weights: [Int?]
        var lowestLimit: Int
    }

    private enum Kind {
        case unlimited
        case fixed(period: Duration, limit: Int, used: Int, nextReset: ContinuousClock.Instant)
        case moving(rates: [(limit: Int, interval: Duration)], calls: [(at: ContinuousClock.Instant, weight: Int)])
    }

    init(budget: APIBudget, config: PyValue) {
        self.budget = budget
        self.config = config
    }

    /// Waits until the request fits its policy's budget, and counts it.
    func acquire(_ request: HTTPRequestData, sleep: @Sendable (Double) async throws -> Void) async throws {
        guard let index = try matchingPolicy(request) else { return }
        let weight = try state.withLock { state in
            let policy = state.evaluated![index]
            let weight = zip(budget.policies[index].matchers, policy.weights).first { Self.matches($0.0, request) }?.1 ?? 1
            if weight > policy.lowestLimit {
                throw ManifestError(budget.policies[index].path, "a request's weight (\(weight)) exceeds the lowest rate limit (\(policy.lowestLimit))")
            }
            return weight
        }
        while true {
            let wait = state.withLock { state in Self.tryAcquire(&state.evaluated![index].kind, weight: weight, now: .now) }
            guard let wait else { return }
            try Task.checkCancellation()
            try await sleep(RetryDelay.bounded(wait.inSeconds))
            // A sleep that returns at once (a test's) still lets other tasks run.
            await Task.yield()
        }
    }

    /// Adjusts the matching policy to what the API says is left.
    func update(_ request: HTTPRequestData, _ response: HTTPResponseData) {
        guard let index = try? matchingPolicy(request) else { return }
        var available = response.header(budget.remainingHeader).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { max($0, 0) }
        if available == nil, budget.rateLimitStatuses.contains(response.status) { available = 0 }
        // The reset is a Unix time; as a monotonic instant, no further than the longest wait.
        let reset = response.header(budget.resetHeader).flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }.map { epoch in
            ContinuousClock.now + .milliseconds(RetryDelay.milliseconds(epoch - Date().timeIntervalSince1970))
        }
        state.withLock { state in
            Self.update(&state.evaluated![index].kind, available: available, reset: reset, now: .now)
        }
    }

    /// The first policy with a matcher the request meets (a policy without matchers meets
    /// every request), evaluating the budget's limits the first time.
    private func matchingPolicy(_ request: HTTPRequestData) throws -> Int? {
        try state.withLock { state in
            if state.evaluated == nil { state.evaluated = try evaluate() }
        }
        return budget.policies.firstIndex { policy in policy.matchers.isEmpty || policy.matchers.contains { Self.matches($0, request) } }
    }

    private func evaluate() throws -> [Evaluated] {
        let context = ExpressionContext(variables: ["config": config], now: EngineEnvironment.systemNow())
        func number(_ interpolation: BoundInterpolation, _ what: String) throws -> Int {
            let value = try interpolation.evaluate(context)
            guard let number = Operators.integer(value) ?? Int(PyRepr.str(value).trimmingCharacters(in: .whitespaces)),
                  (1...APIBudget.maxLimit).contains(number) else {
                throw ManifestError(interpolation.path, "\(what) must be a whole number from 1 to \(APIBudget.maxLimit), found \(PyRepr.repr(value))")
            }
            return number
        }
        return try budget.policies.map { policy in
            let weights = try policy.matchers.map { matcher in try matcher.weight.map { try number($0, "a matcher's weight") } }
            switch policy.kind {
            case .unlimited:
                return Evaluated(kind: .unlimited, weights: weights, lowestLimit: .max)
            case .fixedWindow(let period, let limit):
                let calls = try number(limit, "call_limit")
                // As the CDK: the first window ends in ten days unless a response says sooner.
                return Evaluated(kind: .fixed(period: Self.duration(period), limit: calls, used: 0, nextReset: .now + .seconds(10 * 86_400)),
                                 weights: weights, lowestLimit: calls)
            case .movingWindow(let rates):
                let evaluated = try rates.map { (limit: try number($0.limit, "a rate's limit"), interval: Self.duration($0.interval)) }
                return Evaluated(kind: .moving(rates: evaluated, calls: []), weights: weights, lowestLimit: evaluated.map(\.limit).min() ?? 1)
            }
        }
    }

    /// Months count as 30 days, as `isodate` turns them into a `timedelta`.
    private static func duration(_ duration: PyDuration) -> Duration {
        .microseconds(duration.micros) + .seconds(Int64(duration.months) * 30 * 86_400)
    }

    /// Nil once the call is counted; otherwise how long to wait before trying again.
    private static func tryAcquire(_ kind: inout Kind, weight: Int, now: ContinuousClock.Instant) -> Duration? {
        switch kind {
        case .unlimited:
            return nil
        case .fixed(let period, let limit, var used, var nextReset):
            if now > nextReset { nextReset = nextReset + period; used = 0 }
            defer { kind = .fixed(period: period, limit: limit, used: used, nextReset: nextReset) }
            guard used + weight <= limit else { return max(nextReset - now, .milliseconds(1)) }
            used += weight
            return nil
        case .moving(let rates, var calls):
            let longest = rates.map(\.interval).max() ?? .zero
            calls.removeAll { $0.at < now - longest }
            var wait: Duration?
            for rate in rates {
                let inWindow = calls.filter { $0.at >= now - rate.interval }
                var excess = inWindow.reduce(0) { $0 + $1.weight } + weight - rate.limit
                guard excess > 0 else { continue }
                // The oldest calls leave the window first: wait for enough of them to go.
                for call in inWindow {
                    excess -= call.weight
                    if excess <= 0 {
                        wait = max(wait ?? .zero, max(call.at + rate.interval - now, .milliseconds(1)))
                        break
                    }
                }
            }
            if wait == nil { calls.append((now, weight)) }
            kind = .moving(rates: rates, calls: calls)
            return wait
        }
    }

    /// As the CDK: a fixed window takes a lower count and any new reset time; a moving window,
    /// told nothing is left (and no reset time), fills itself up.
    private static func update(_ kind: inout Kind, available: Int?, reset: ContinuousClock.Instant?, now: ContinuousClock.Instant) {
        switch kind {
        case .unlimited:
            return
        case .fixed(let period, let limit, var used, var nextReset):
            if now > nextReset { nextReset = nextReset + period; used = 0 }
            if let available, limit - used > available { used = limit - available }
            if let reset { nextReset = reset }
            kind = .fixed(period: period, limit: limit, used: used, nextReset: nextReset)
        case .moving(let rates, var calls):
            guard available == 0, reset == nil else { return }
            let room = rates.map { rate in rate.limit - calls.filter { $0.at >= now - rate.interval }.reduce(0) { $0 + $1.weight } }.min() ?? 0
            if room > 0 { calls.append((now, room)) }
            kind = .moving(rates: rates, calls: calls)
        }
    }

    /// `HttpRequestRegexMatcher`: every criterion given must hold.
    static func matches(_ matcher: APIBudget.Matcher, _ request: HTTPRequestData) -> Bool {
        if let method = matcher.method, request.method.uppercased() != method { return false }
        guard let url = URLComponents(string: request.url) else { return false }
        if let base = matcher.urlBase {
            var netloc = url.percentEncodedHost ?? ""
            if let port = url.port { netloc += ":\(port)" }
            if "\(url.scheme ?? "")://\(netloc)" != base { return false }
        }
        if let pattern = matcher.pathPattern {
            var path = url.percentEncodedPath
            while path.hasSuffix("/") { path.removeLast() }
            guard let regex = try? Regex(pattern), path.firstMatch(of: regex) != nil else { return false }
        }
        if !matcher.params.isEmpty {
            let query = Requester.queryValues(of: request.url)
            if !matcher.params.allSatisfy({ query[$0.0] == $0.1 }) { return false }
        }
        if !matcher.headers.isEmpty {
            let sent = Dictionary(request.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { _, last in last })
            if !matcher.headers.allSatisfy({ sent[$0.0] == $0.1 }) { return false }
        }
        return true
    }
}

/// A transport that keeps its requests within an `APIBudgetState`.
struct BudgetedTransport: HTTPTransport {
    let inner: any HTTPTransport
    let budget: APIBudgetState
    let sleep: @Sendable (Double) async throws -> Void

    func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
        try await budget.acquire(request, sleep: sleep)
        let response = try await inner.send(request, timeout: timeout)
        budget.update(request, response)
        return response
    }
}
