import Foundation

/// The manifest's `api_budget` (`HTTPAPIBudget`): how many requests the API allows in a time
/// frame, by request pattern, so the engine waits before it sends instead of earning 429s.
/// Parsed at registration; limits and weights that interpolate the config are evaluated when
/// a read starts (`APIBudgetState`).
struct APIBudget: Sendable {
    enum Kind: Sendable {
        case unlimited
        /// `call_limit` calls per `period`, the window starting again at each reset.
        case fixedWindow(period: PyDuration, limit: BoundInterpolation)
        /// Each rate: at most `limit` calls in any `interval` (the last `interval` before now).
        case movingWindow(rates: [(limit: BoundInterpolation, interval: PyDuration)])
    }

    struct Matcher: Sendable {
        var method: String?
        /// `scheme://host[:port]`, without a trailing slash.
        var urlBase: String?
        var pathPattern: String?
        var params: [(String, String)]
        var headers: [(String, String)]
        var weight: BoundInterpolation?
        let path: ManifestPath
    }

    struct Policy: Sendable {
        let kind: Kind
        /// None: every request.
        let matchers: [Matcher]
        let path: ManifestPath
    }

    let policies: [Policy]
    let resetHeader: String
    let remainingHeader: String
    let rateLimitStatuses: Set<Int>

    /// A policy's limits above this are refused: the window keeps one entry per call.
    static let maxLimit = 1_000_000

    init(_ node: ComponentNode) throws {
        guard node.type == "HTTPAPIBudget" else { throw ManifestError(node.path, "unsupported API budget \(node.kindDescription)") }
        policies = try node.children("policies").map(Self.policy)
        resetHeader = try node.string("ratelimit_reset_header") ?? "ratelimit-reset"
        remainingHeader = try node.string("ratelimit_remaining_header") ?? "ratelimit-remaining"
        switch node.value("status_codes_for_ratelimit_hit") {
        case nil, .none?: rateLimitStatuses = [429]
        case .list(let codes)?:
            rateLimitStatuses = Set(try codes.map { code in
                guard case .int(let status) = code, (100...599).contains(status) else {
                    throw ManifestError(node.path.appending("status_codes_for_ratelimit_hit"), "expected HTTP status codes, found \(PyRepr.repr(code))")
                }
                return status
            })
        case let other?:
            throw ManifestError(node.path.appending("status_codes_for_ratelimit_hit"), "expected a list of status codes, found \(other.typeName)")
        }
    }

    private static func policy(_ node: ComponentNode) throws -> Policy {
        let matchers = try node.children("matchers").map(matcher)
        func duration(_ node: ComponentNode, _ key: String) throws -> PyDuration {
            guard let text = try node.string(key) else { throw ManifestError(node.path.appending(key), "is required") }
            guard let duration = try? ISO8601.parseDuration(text), duration.months > 0 || duration.micros > 0 else {
                throw ManifestError(node.path.appending(key), "expected a positive ISO 8601 duration such as PT1S, found \(PyRepr.string(text))")
            }
            return duration
        }
        func limit(_ node: ComponentNode, _ key: String) throws -> BoundInterpolation {
            guard let value = node.value(key) else { throw ManifestError(node.path.appending(key), "is required") }
            return try node.bind(PyRepr.str(value), key: key)
        }
        switch node.type {
        case "UnlimitedCallRatePolicy":
            return Policy(kind: .unlimited, matchers: matchers, path: node.path)
        case "FixedWindowCallRatePolicy":
            return Policy(kind: .fixedWindow(period: try duration(node, "period"), limit: try limit(node, "call_limit")),
                          matchers: matchers, path: node.path)
        case "MovingWindowCallRatePolicy":
            let rates = try node.children("rates").map { rate in (limit: try limit(rate, "limit"), interval: try duration(rate, "interval")) }
            guard !rates.isEmpty else { throw ManifestError(node.path.appending("rates"), "the list of rates can not be empty") }
            return Policy(kind: .movingWindow(rates: rates), matchers: matchers, path: node.path)
        default:
            throw ManifestError(node.path, "unsupported call rate policy \(node.kindDescription)")
        }
    }

    private static func matcher(_ node: ComponentNode) throws -> Matcher {
        func pairs(_ key: String) throws -> [(String, String)] {
            switch node.value(key) {
            case nil, .none?: return []
            case .dict(let dict)?: return dict.entries.map { (PyRepr.str($0.key), PyRepr.str($0.value)) }
            case let other?: throw ManifestError(node.path.appending(key), "expected an object, found \(other.typeName)")
            }
        }
        let pattern = try node.string("url_path_pattern")
        if let pattern {
            do {
                try ExpressionLimits.checkRegex(pattern)
                _ = try Regex(pattern)
            } catch {
                throw ManifestError(node.path.appending("url_path_pattern"), "is not a regular expression Tributary runs: \(PyRepr.string(pattern))")
            }
        }
        var base = try node.string("url_base")
        while base?.hasSuffix("/") == true { base?.removeLast() }
        return Matcher(
            method: try node.string("method")?.uppercased(), urlBase: base, pathPattern: pattern,
            params: try pairs("params"), headers: try pairs("headers").map { ($0.0.lowercased(), $0.1) },
            weight: try node.value("weight").map { try node.bind(PyRepr.str($0), key: "weight") }, path: node.path
        )
    }
}
