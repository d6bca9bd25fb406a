/// How long to wait before a retry: one of an error handler's `backoff_strategies`, tried in
/// order until one gives a wait.
struct BackoffStrategy: Sendable {
    enum Kind: Sendable {
        case constant(seconds: BoundInterpolation)
        case exponential(factor: BoundInterpolation)
        case waitTimeFromHeader(header: BoundInterpolation, regex: String?)
        case waitUntilTimeFromHeader(header: BoundInterpolation, minWait: Double?, regex: String?)
        /// `WaitTimeFromResponse`: an expression over the body (`response`, `{}` when it is not
        /// JSON) and `headers`.
        case waitTimeFromResponse(expression: BoundInterpolation)
    }

    let kind: Kind
    /// `max_waiting_time_in_seconds`: a wait this long or longer stops the stream instead.
    let maxWait: BoundInterpolation?
    let path: ManifestPath

    init(_ node: ComponentNode) throws {
        // The pattern runs on a third party's header value: one that could backtrack without
        // end is refused here, at registration.
        func regex() throws -> String? {
            guard let pattern = try node.string("regex") else { return nil }
            do { try ExpressionLimits.checkRegex(pattern) } catch let error as ExpressionError {
                throw ManifestError(node.path.appending("regex"), error.message)
            }
            return pattern
        }
        path = node.path
        maxWait = try node.interpolation("max_waiting_time_in_seconds")
        switch node.type {
        case "ConstantBackoffStrategy":
            guard let seconds = try node.interpolation("backoff_time_in_seconds") else {
                throw ManifestError(node.path.appending("backoff_time_in_seconds"), "is required")
            }
            kind = .constant(seconds: seconds)
        case "ExponentialBackoffStrategy":
            kind = .exponential(factor: try node.interpolation("factor") ?? node.bind("5", key: "factor"))
        case "WaitTimeFromHeader":
            kind = .waitTimeFromHeader(header: try node.bind(try node.requiredString("header"), key: "header"), regex: try regex())
        case "WaitUntilTimeFromHeader":
            kind = .waitUntilTimeFromHeader(header: try node.bind(try node.requiredString("header"), key: "header"),
                                            minWait: try node.string("min_wait").flatMap(Double.init), regex: try regex())
        case "WaitTimeFromResponse":
            guard let expression = try node.interpolation("wait_time_in_seconds") else {
                throw ManifestError(node.path.appending("wait_time_in_seconds"), "is required")
            }
            kind = .waitTimeFromResponse(expression: expression)
        default:
            throw ManifestError(node.path, "unsupported backoff strategy \(node.kindDescription)")
        }
    }

    /// Seconds to wait before retry number `attempt` (1-based); nil when this strategy has no
    /// answer for the response (the header is absent, the expression gives no positive number),
    /// and the next strategy decides. Throws when the wait reaches `max_waiting_time_in_seconds`.
    func delay(attempt: Int, response: HTTPResponseData?, context: ExpressionContext, capped: Bool = true) throws -> Double? {
        func headerNumber(_ header: BoundInterpolation, _ regex: String?) throws -> Double? {
            guard let name = try header.text(context), var value = response?.header(name) else { return nil }
            if let regex, let pattern = try? Regex(regex), let match = value.firstMatch(of: pattern) {
                value = String(match.output[0].substring ?? "")
            }
            // A header of `nan` or `inf` is no wait at all: the next strategy decides.
            return Double(value.trimmingSpaces).flatMap { $0.isFinite ? $0 : nil }
        }
        let wait: Double?
        switch kind {
        case .constant(let seconds): return Operators.number(try seconds.evaluate(context))
        case .exponential(let factor):
            return (Operators.number(try factor.evaluate(context)) ?? 5) * Double(1 << min(attempt, 20))
        case .waitTimeFromHeader(let header, let regex):
            wait = try headerNumber(header, regex)
        case .waitUntilTimeFromHeader(let header, let minWait, let regex):
            if let until = try headerNumber(header, regex) {
                wait = max(until - context.now.timestamp, minWait ?? 0)
            } else {
                wait = minWait
            }
        case .waitTimeFromResponse(let expression):
            guard let response else { return nil }
            var scoped = context
            scoped["response"] = (try? JSONBody.decode(response.body, path: path)) ?? .dict(PyDict())
            scoped["headers"] = ErrorHandler.headersValue(response)
            // As the CDK: an expression that cannot be evaluated on this body, or that gives
            // nothing, a non-number, a negative or a non-finite number, defers to the next strategy.
            guard let value = try? expression.evaluate(scoped), let seconds = Self.number(value), seconds.isFinite, seconds >= 0 else {
                return nil
            }
            wait = seconds
        }
        guard let wait, wait.isFinite else { return nil }
        if capped { try checkCap(wait, response: response, attempt: attempt, context: context) }
        return wait
    }

    /// As the CDK: a wait at or above the cap stops the stream rather than waiting.
    private func checkCap(_ wait: Double, response: HTTPResponseData?, attempt: Int, context: ExpressionContext) throws {
        guard let maxWait, wait > 0 else { return }
        guard let cap = Self.number(try maxWait.evaluate(context)), cap.isFinite else {
            throw ManifestError(path.appending("max_waiting_time_in_seconds"), "does not give a finite number of seconds")
        }
        if wait >= cap {
            throw RequestFailure(status: response?.status,
                                 message: "the API asked to wait \(wait) s, at least the \(cap) s max_waiting_time_in_seconds allows; "
                                     + "the stream stops rather than wait",
                                 path: path, attempts: attempt)
        }
    }

    /// A number, or text that reads as one (Python's `float()`).
    static func number(_ value: PyValue) -> Double? {
        if let number = Operators.number(value) { return number }
        if case .string(let text) = value { return Double(text.trimmingSpaces) }
        return nil
    }
}
