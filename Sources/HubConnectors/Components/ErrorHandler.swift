import Foundation

/// What to do with a response: the CDK's `ResponseAction`.
enum ResponseAction: String, Sendable {
    case success = "SUCCESS"
    case fail = "FAIL"
    case retry = "RETRY"
    case ignore = "IGNORE"
    case rateLimited = "RATE_LIMITED"
    /// Refresh the authenticator's token, then retry (as a plain retry for static credentials).
    case refreshTokenThenRetry = "REFRESH_TOKEN_THEN_RETRY"
}

/// `HttpResponseFilter`: an action for responses matching status codes, a predicate, or an
/// error-message substring.
struct ResponseFilter: Sendable {
    let action: ResponseAction
    let httpCodes: Set<Int>
    let errorMessageContains: String?
    let predicate: BoundInterpolation?
    let errorMessage: BoundInterpolation?
    /// The filter's `failure_type`: a `config_error` is one only the user can fix.
    let failureType: String?

    init(_ node: ComponentNode) throws {
        let actionName = try node.string("action") ?? "FAIL"
        guard let action = ResponseAction(rawValue: actionName) else {
            throw ManifestError(node.path.appending("action"), "expected SUCCESS, FAIL, RETRY, IGNORE, RATE_LIMITED or REFRESH_TOKEN_THEN_RETRY, found \(actionName)")
        }
        self.action = action
        if case .list(let codes)? = node.value("http_codes") {
            httpCodes = Set(codes.compactMap(Operators.integer))
        } else {
            httpCodes = []
        }
        errorMessageContains = try node.string("error_message_contains")
        predicate = try node.interpolation("predicate", default: "False")
        errorMessage = try node.interpolation("error_message")
        failureType = try node.string("failure_type")
        if let failureType, !["config_error", "system_error", "transient_error"].contains(failureType) {
            throw ManifestError(node.path.appending("failure_type"), "expected config_error, system_error or transient_error, found \(failureType)")
        }
    }

    func matches(_ response: HTTPResponseData, decoded: PyValue, context: ExpressionContext) throws -> Bool {
        if httpCodes.contains(response.status) { return true }
        if let predicate {
            var scoped = context
            scoped["response"] = decoded
            scoped["headers"] = ErrorHandler.headersValue(response)
            if try predicate.truth(scoped) { return true }
        }
        if let errorMessageContains, String(decoding: response.body, as: UTF8.self).contains(errorMessageContains) { return true }
        return false
    }
}

/// `DefaultErrorHandler` / `CompositeErrorHandler`: classifies a response and says how long
/// to back off.
struct ErrorHandler: Sendable {
    struct Handler: Sendable {
        let filters: [ResponseFilter]
        let backoff: [BackoffStrategy]
        let maxRetries: Int
    }

    let handlers: [Handler]

    static let `default` = ErrorHandler(handlers: [Handler(filters: [], backoff: [], maxRetries: 5)])
    /// The most retries a manifest may ask for on one request.
    static let maxRetriesLimit = 100

    init(handlers: [Handler]) { self.handlers = handlers }

    init(_ node: ComponentNode?) throws {
        guard let node else { self = .default; return }
        switch node.type {
        case "CompositeErrorHandler":
            handlers = try node.children("error_handlers").flatMap { try ErrorHandler($0).handlers }
        case "DefaultErrorHandler", nil:
            let maxRetries = try node.int("max_retries") ?? 5
            // A retry count is a number from outside: beyond this a failing API would keep a
            // stream (and its account's sync slot) busy for days.
            guard (0...Self.maxRetriesLimit).contains(maxRetries) else {
                throw ManifestError(node.path.appending("max_retries"),
                                    "must be from 0 to \(Self.maxRetriesLimit), found \(maxRetries)")
            }
            handlers = [Handler(filters: try node.children("response_filters").map(ResponseFilter.init),
                                backoff: try node.children("backoff_strategies").map(BackoffStrategy.init),
                                maxRetries: maxRetries)]
        default:
            throw ManifestError(node.path, "unsupported error handler \(node.kindDescription)")
        }
    }

    /// The CDK's default mapping for responses no filter matched.
    static func defaultAction(_ status: Int) -> ResponseAction {
        switch status {
        case 200..<400: return .success
        case 429: return .rateLimited
        case 408, 500...599: return .retry
        case 400..<500: return .fail
        default: return .retry
        }
    }

    /// The action for a response, the handler whose backoff applies, and whether a failure
    /// is the user's to fix: a filter's `failure_type: config_error`, or, as the CDK's default
    /// mapping has it, a 401 or 403 no filter matched.
    func resolve(_ response: HTTPResponseData, decoded: PyValue, context: ExpressionContext)
        throws -> (action: ResponseAction, handler: Handler, configurationError: Bool) {
        for handler in handlers {
            for filter in handler.filters where try filter.matches(response, decoded: decoded, context: context) {
                return (filter.action, handler, filter.failureType == "config_error")
            }
        }
        let fallback = handlers.first ?? ErrorHandler.default.handlers[0]
        return (Self.defaultAction(response.status), fallback, response.status == 401 || response.status == 403)
    }

    static func headersValue(_ response: HTTPResponseData) -> PyValue {
        var dict = PyDict()
        for (name, value) in response.headers { dict[name] = .string(value) }
        return .dict(dict)
    }

    /// The headers as the CDK's paginators see them: `dict(response.headers)` plus `link`,
    /// the `Link` header parsed as `requests` does (`{rel: {"url": …, "rel": …, param: …}}`).
    static func paginationHeaders(_ response: HTTPResponseData) -> PyValue {
        guard case .dict(var dict) = headersValue(response) else { return .dict(PyDict()) }
        var links = PyDict()
        if let header = response.header("Link") {
            for part in header.split(separator: ",") {
                let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let first = pieces.first, first.hasPrefix("<"), first.hasSuffix(">") else { continue }
                var link = PyDict()
                link["url"] = .string(String(first.dropFirst().dropLast()))
                for parameter in pieces.dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"' ")) }
                    if pair.count == 2 { link[pair[0]] = .string(pair[1]) }
                }
                let key = link["rel"].map(PyRepr.str) ?? PyRepr.str(link["url"] ?? .none)
                links[key] = .dict(link)
            }
        }
        dict["link"] = .dict(links)
        return .dict(dict)
    }
}
