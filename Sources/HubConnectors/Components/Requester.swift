import Foundation

/// `HttpRequester`: builds a request from the manifest's templates and sends it, retrying and
/// backing off as its error handler says.
struct Requester: Sendable {
    let urlBase: BoundInterpolation
    let path: BoundInterpolation?
    let method: String
    let parameters: InterpolatedMapping?
    let headers: InterpolatedMapping?
    let bodyJSON: InterpolatedNestedMapping?
    let bodyData: InterpolatedMapping?
    let authenticator: Authenticator
    let errorHandler: ErrorHandler
    let manifestPath: ManifestPath
    /// `use_cache`: responses reused within a read.
    let useCache: Bool
    /// `QueryProperties`, from `request_parameters`, `query_properties` or the deprecated
    /// `fetch_properties_from_endpoint`: each page is requested once per chunk of properties.
    let queryProperties: QueryProperties?

    init(_ given: ComponentNode, streamName: String = "", depth: Int = 0) throws {
        // As the CDK's factory: a QueryProperties among the request parameters is taken out of
        // them (it is no template) and its chunk is added as that parameter to each request.
        var node = given
        var queryProperties: QueryProperties?
        if case .dict(let parameters)? = given.value("request_parameters") {
            var kept = PyDict()
            for (key, value) in parameters.entries {
                guard case .dict(let component) = value, component["type"] == .string("QueryProperties") else {
                    kept[key] = value
                    continue
                }
                let name = PyRepr.str(key)
                guard queryProperties == nil else {
                    throw ManifestError(given.path.appending("request_parameters").appending(name),
                                        "request_parameters may hold one QueryProperties, and this is the second")
                }
                queryProperties = try QueryProperties(try ComponentNode(value, path: given.path.appending("request_parameters").appending(name)),
                                                      parameter: name, streamName: streamName, depth: depth)
            }
            if queryProperties != nil {
                var fields = given.fields
                fields["request_parameters"] = .dict(kept)
                node = try ComponentNode(.dict(fields), path: given.path)
            }
        }
        for key in ["fetch_properties_from_endpoint", "query_properties"] {
            guard let child = try node.child(key) else { continue }
            guard queryProperties == nil else {
                throw ManifestError(child.path, "a requester takes one QueryProperties or PropertiesFromEndpoint, and this is the second")
            }
            queryProperties = try QueryProperties(child, parameter: nil, streamName: streamName, depth: depth)
        }
        self.queryProperties = queryProperties
        guard let urlBase = try node.interpolation("url_base") ?? node.interpolation("url") else {
            throw ManifestError(node.path.appending("url_base"), "is required")
        }
        self.urlBase = urlBase
        path = try node.interpolation("path")
        method = (try node.string("http_method") ?? "GET").uppercased()
        guard ["GET", "POST"].contains(method) else {
            throw ManifestError(node.path.appending("http_method"), "expected GET or POST, found \(method)")
        }
        parameters = try node.interpolatedMapping("request_parameters")
        headers = try node.interpolatedMapping("request_headers")
        // `request_body` (a typed body) replaces `request_body_json` or `request_body_data`, as
        // the CDK resolves it: JSON objects and GraphQL queries are JSON bodies, plain text and
        // URL-encoded forms are data.
        var jsonNode = node, jsonKey = "request_body_json", dataNode = node, dataKey = "request_body_data"
        if let body = try node.child("request_body") {
            switch body.type {
            case "RequestBodyJsonObject", "RequestBodyGraphQL": jsonNode = body; jsonKey = "value"
            case "RequestBodyPlainText", "RequestBodyUrlEncodedForm": dataNode = body; dataKey = "value"
            default: throw ManifestError(body.path, "unsupported request body \(body.kindDescription)")
            }
        }
        var jsonValue = jsonNode.value(jsonKey)
        if jsonNode.type == "RequestBodyGraphQL", case .dict(let query)? = jsonValue {
            // The query model's `.dict(exclude_none=True)`: its fields, None dropped.
            var kept = PyDict()
            for (key, value) in query.entries where value != .none && key != .string("type") { kept[key] = value }
            if kept["query"] == nil { kept["query"] = .string("query {\n    \n}") }
            jsonValue = .dict(kept)
        }
        bodyJSON = try jsonValue.map {
            try InterpolatedNestedMapping($0, parameters: jsonNode.parameters, path: jsonNode.path.appending(jsonKey))
        }
        bodyData = try dataNode.interpolatedMapping(dataKey)
        authenticator = try Authenticator.make(try node.child("authenticator"), urlBase: urlBase)
        errorHandler = try ErrorHandler(try node.child("error_handler"))
        manifestPath = node.path
        useCache = try node.bool("use_cache", default: false)
    }

    /// The request before pagination, cursor and partition options are added.
    func prepare(context: ExpressionContext) throws -> RequestParts {
        var parts = RequestParts()
        parts.method = method
        let base = try urlBase.text(context) ?? ""
        let pathText = try path?.text(context) ?? ""
        parts.url = Self.join(base, pathText)
        if let parameters { parts.parameters = try parameters.evaluate(context) }
        if let headers {
            for (key, value) in try headers.evaluate(context).entries { parts.headers[PyRepr.str(key)] = PyRepr.str(value) }
        }
        if let bodyJSON { parts.bodyJSON = try bodyJSON.evaluate(context) }
        if let bodyData {
            // A data body that renders to text (`RequestBodyPlainText`, or a string
            // `request_body_data`) is sent as it is, as `requests` sends a str body.
            switch try bodyData.template?.evaluate(context) {
            case nil: parts.bodyData = try bodyData.evaluate(context)
            case .dict(let rendered)?: parts.bodyData = rendered
            case .none?: break
            case let rendered?: parts.rawBody = PyRepr.str(rendered)
            }
        }
        return parts
    }

    static func join(_ base: String, _ path: String) -> String {
        if path.isEmpty { return base }
        if path.hasPrefix("http://") || path.hasPrefix("https://") { return path }
        var trimmedBase = base
        while trimmedBase.hasSuffix("/") { trimmedBase.removeLast() }
        return trimmedBase + "/" + path.drop(while: { $0 == "/" })
    }

    /// Builds the wire request: URL with its query, headers, and the body (JSON wins over form).
    static func wireRequest(_ parts: RequestParts) throws -> HTTPRequestData {
        var url = parts.pathOverride.map { join(parts.url, $0) } ?? parts.url
        // As the CDK's HttpClient: a parameter the URL already carries with the same value (a
        // next-page link that repeats `order=asc`) is sent once; a different value, both.
        let existing = queryValues(of: url)
        let query = parts.queryItems.filter { existing[$0.0] != $0.1 }
            .map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
        if !query.isEmpty { url += (url.contains("?") ? "&" : "?") + query }
        var headers = parts.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var body: [UInt8]?
        if !parts.bodyJSON.isEmpty {
            body = Array(try PyRepr.jsonDumps(.dict(parts.bodyJSON)).utf8)
            headers.append(("Content-Type", "application/json"))
        } else if let raw = parts.rawBody, !raw.isEmpty {
            body = Array(raw.utf8)
        } else if !parts.bodyData.isEmpty {
            body = Array(parts.bodyData.entries.map { "\(formEncode(PyRepr.str($0.key)))=\(formEncode(PyRepr.str($0.value)))" }
                .joined(separator: "&").utf8)
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        }
        headers.append(("User-Agent", "Tributary"))
        return HTTPRequestData(method: parts.method, url: url, headers: headers, body: body)
    }

    /// The first value of each parameter in the URL's query, decoded, with blank values left
    /// out: what Python's `parse_qs` gives, which the CDK compares its parameters with.
    static func queryValues(of url: String) -> [String: String] {
        guard let mark = url.firstIndex(of: "?") else { return [:] }
        let query = url[url.index(after: mark)...].prefix { $0 != "#" }
        var values: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty else { continue }
            let decode: (Substring) -> String = { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            let name = decode(parts[0])
            if values[name] == nil { values[name] = decode(parts[1]) }
        }
        return values
    }

    /// `application/x-www-form-urlencoded` escaping, as `requests` applies to params.
    static func formEncode(_ text: String) -> String { Macros.quotePlus(text) }

    /// Sends with retries. Returns nil when the error handler says to ignore the response.
    func send(_ parts: RequestParts, transport: any HTTPTransport, context: ExpressionContext,
              environment: EngineEnvironment = .init()) async throws -> HTTPResponseData {
        guard let response = try await sendAllowingIgnore(parts, transport: transport, context: context, environment: environment) else {
            throw RequestFailure(status: nil, message: "the login response was ignored by the error handler", path: manifestPath, attempts: 1)
        }
        return response
    }

    /// Drops the request's token and authenticates it anew: the wire request to send next.
    typealias Reauthenticate = @Sendable () async throws -> HTTPRequestData

    func sendAllowingIgnore(_ parts: RequestParts, transport: any HTTPTransport, context: ExpressionContext,
                            environment: EngineEnvironment, reauthenticate: Reauthenticate? = nil,
                            rateLimited: (@Sendable () -> Void)? = nil) async throws -> HTTPResponseData? {
        var request = try Self.wireRequest(parts)
        var attempt = 0
        var refreshed = false
        while true {
            attempt += 1
            request.followRedirects = environment.followRedirects
            environment.requestLog?(request)
            let response: HTTPResponseData
            do {
                response = try await transport.send(request, timeout: environment.requestTimeout)
            } catch let error as TransportError {
                let handler = errorHandler.handlers.first ?? ErrorHandler.default.handlers[0]
                guard attempt <= handler.maxRetries else {
                    throw RequestFailure(status: nil, message: error.message, path: manifestPath, attempts: attempt)
                }
                try await environment.sleep(try backoff(handler, attempt: attempt, response: nil, context: context))
                continue
            }
            let decoded = (try? JSONBody.decode(response.body, path: manifestPath)) ?? .none
            let (action, handler, configurationError) = try errorHandler.resolve(response, decoded: decoded, context: context)
            switch action {
            case .success: return response
            case .ignore: return nil
            case .fail:
                throw RequestFailure(status: response.status, message: Self.summary(response), path: manifestPath, attempts: attempt,
                                     isConfigurationError: configurationError)
            case .refreshTokenThenRetry where reauthenticate != nil:
                // As the CDK: one refresh per request; rejected again after it, the request fails.
                guard !refreshed, let reauthenticate else {
                    throw RequestFailure(status: response.status, message: "rejected again after the token was refreshed: "
                                         + Self.summary(response), path: manifestPath, attempts: attempt)
                }
                refreshed = true
                guard attempt <= handler.maxRetries else {
                    throw RequestFailure(status: response.status, message: "gave up after \(attempt) attempts: " + Self.summary(response),
                                         path: manifestPath, attempts: attempt)
                }
                try await environment.sleep(try backoff(handler, attempt: attempt, response: response, context: context))
                request = try await reauthenticate()
            case .retry, .rateLimited, .refreshTokenThenRetry:
                // As the CDK, a response handled as a rate limit is reported (a 429 that an
                // explicit RETRY filter catches, or a 5xx, is not).
                if action == .rateLimited { rateLimited?() }
                // A 429 handed back to the queue waits without holding a worker: the cap on how
                // long the stream may wait (`max_waiting_time_in_seconds`) is for waiting in place.
                let delay = try backoff(handler, attempt: attempt, response: response, context: context,
                                        capped: !(action == .rateLimited && environment.rateLimitHandoff))
                if action == .rateLimited, environment.rateLimitHandoff {
                    throw RateLimited(retryAfter: delay, status: response.status, path: manifestPath)
                }
                guard attempt <= handler.maxRetries else {
                    throw RequestFailure(status: response.status,
                                         message: "gave up after \(attempt) attempts: " + Self.summary(response),
                                         path: manifestPath, attempts: attempt)
                }
                try await environment.sleep(delay)
            }
        }
    }

    private func backoff(_ handler: ErrorHandler.Handler, attempt: Int, response: HTTPResponseData?,
                         context: ExpressionContext, capped: Bool = true) throws -> Double {
        for strategy in handler.backoff {
            if let delay = try strategy.delay(attempt: attempt, response: response, context: context, capped: capped) {
                return RetryDelay.bounded(delay)
            }
        }
        if let retryAfter = response?.header("Retry-After").flatMap({ RetryDelay.parse(String($0.trimmingSpaces)) }) { return retryAfter }
        return RetryDelay.bounded(5 * Double(1 << min(attempt, 20)))
    }

    /// A short, safe description of a failed response. It lands in `last_error`, run errors
    /// and logs, which tenants and operators read, so it never copies the body: an API's error
    /// text can echo a credential, a token or someone's personal data. What is kept is the
    /// status, the body's type and size, and top-level codes that look like identifiers
    /// (`"error": "invalid_grant"`, `"code": "rate_limited"`), never free text.
    static func summary(_ response: HTTPResponseData) -> String {
        var text = "HTTP \(response.status)"
        var codes: [String] = []
        if case .dict(let object)? = try? JSONBody.decode(response.body, path: .root) {
            for key in ["error", "code", "error_code", "type", "status"] {
                guard let value = object[key] else { continue }
                let raw: String
                switch value {
                case .string(let string): raw = string
                case .int(let number): raw = String(number)
                default: continue
                }
                if Self.isIdentifier(raw) { codes.append("\(key)=\(raw)") }
            }
        }
        if !codes.isEmpty { text += " (" + codes.joined(separator: ", ") + ")" }
        if !response.body.isEmpty {
            let type = response.header("Content-Type").map { String($0.prefix { $0 != ";" }) } ?? "no content type"
            text += ", \(response.body.count)-byte \(Self.isIdentifier(type, allowingSlash: true) ? type : "body") body not shown"
        }
        return text
    }

    /// A short code made of letters, digits and `_ . : -` only: no room for a secret's context.
    static func isIdentifier(_ text: String, allowingSlash: Bool = false) -> Bool {
        guard (1...48).contains(text.utf8.count) else { return false }
        return text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2E || byte == 0x3A || byte == 0x2D || (allowingSlash && (byte == 0x2F || byte == 0x2B))
        }
    }
}

/// A request that failed for good: what failed, the HTTP status, where in the manifest.
public struct RequestFailure: Error, Sendable, CustomStringConvertible {
    public let status: Int?
    public let message: String
    public let path: ManifestPath
    public let attempts: Int
    /// The API refused the request in a way only the user can fix (credentials, permissions):
    /// the CDK's `config_error`, which is not retried.
    public var isConfigurationError = false
    public var description: String { "\(path): \(message) (attempt \(attempts))" }
}

/// A 429 handed back to the caller (the queue reschedules the job without using an attempt).
public struct RateLimited: Error, Sendable, CustomStringConvertible {
    /// Seconds, always finite and within `RetryDelay.maxSeconds`.
    public let retryAfter: Double
    public let status: Int
    public let path: ManifestPath

    public init(retryAfter: Double, status: Int, path: ManifestPath) {
        self.retryAfter = RetryDelay.bounded(retryAfter)
        self.status = status
        self.path = path
    }

    public var description: String { "\(path): rate limited (HTTP \(status)); retry after \(RetryDelay.milliseconds(retryAfter) / 1000) s" }
}
