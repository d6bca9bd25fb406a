import Foundation

/// `OAuthAuthenticator` as the CDK's `DeclarativeOauth2Authenticator` runs it: an access token
/// from the token endpoint (refresh-token or client-credentials grant), sent as a bearer token,
/// fetched on first use and again once it expires. The token lives in the read's `TokenStore`.
/// A profile assertion (`use_profile_assertion` with a `JwtAuthenticator`) exchanges a signed
/// JWT for the token instead. Single-use refresh tokens (`refresh_token_updater`, which writes
/// the rotated token back to the connection) are refused at load.
final class OAuthAuthenticator: Sendable {
    let endpoint: BoundInterpolation?
    let clientID: BoundInterpolation
    let clientSecret: BoundInterpolation
    let refreshToken: BoundInterpolation?
    let scopes: [String]
    let names: Names
    let grantType: BoundInterpolation
    let body: InterpolatedMapping?
    let headers: InterpolatedMapping?
    let argumentsInQuery: Bool
    let initialExpiry: BoundInterpolation?
    /// With a format, `expires_in` is the time of expiry, not a number of seconds.
    let expiryIsTime: Bool
    let accessTokenValue: BoundInterpolation?
    /// The JWT bearer grant (RFC 7523): with one, the token request carries only the grant type
    /// and this signed assertion.
    let profileAssertion: JwtAuthenticator?
    let path: ManifestPath

    struct Names: Sendable {
        let clientID, clientSecret, refreshToken, grantType, accessToken, expiresIn: BoundInterpolation
    }

    /// Attempts at the token endpoint when it answers 429 or 5xx, or the connection fails.
    static let maxAttempts = 6

    init(_ node: ComponentNode) throws {
        path = node.path
        if node.has("refresh_token_updater") {
            throw ManifestError(node.path.appending("refresh_token_updater"), "is not supported: Tributary does not write rotated tokens back to a connection's config")
        }
        // As the CDK reads it: a flag, or a string (any non-empty one turns the flow on, since
        // the CDK tests the string itself before it interpolates it).
        let usesAssertion: Bool
        if case .string(let text)? = node.value("use_profile_assertion") { usesAssertion = !text.isEmpty } else {
            usesAssertion = try node.bool("use_profile_assertion", default: false)
        }
        if usesAssertion {
            let assertion = try node.child("profile_assertion")
            guard let assertion else {
                throw ManifestError(node.path.appending("profile_assertion"), "is required when using the profile assertion flow")
            }
            guard assertion.type == "JwtAuthenticator" else {
                throw ManifestError(assertion.path, "expected a JwtAuthenticator, found \(assertion.kindDescription)")
            }
            profileAssertion = try JwtAuthenticator(assertion)
            if try node.bool("send_refresh_request_as_query_params", default: false) {
                throw ManifestError(node.path.appending("send_refresh_request_as_query_params"),
                                    "cannot be combined with a profile assertion, which the token endpoint takes in the body")
            }
        } else {
            profileAssertion = nil
        }
        endpoint = try node.interpolation("token_refresh_endpoint")
        accessTokenValue = try node.interpolation("access_token_value")
        let clientID = try node.interpolation("client_id"), clientSecret = try node.interpolation("client_secret")
        guard usesAssertion || clientID != nil && clientSecret != nil else {
            throw ManifestError(node.path, "an OAuthAuthenticator needs client_id and client_secret")
        }
        self.clientID = try clientID ?? node.bind("", key: "client_id")
        self.clientSecret = try clientSecret ?? node.bind("", key: "client_secret")
        refreshToken = try node.interpolation("refresh_token")
        scopes = try node.stringList("scopes")
        func name(_ key: String, _ fallback: String) throws -> BoundInterpolation {
            try node.interpolation(key) ?? node.bind(fallback, key: key)
        }
        names = Names(clientID: try name("client_id_name", "client_id"), clientSecret: try name("client_secret_name", "client_secret"),
                      refreshToken: try name("refresh_token_name", "refresh_token"), grantType: try name("grant_type_name", "grant_type"),
                      accessToken: try name("access_token_name", "access_token"), expiresIn: try name("expires_in_name", "expires_in"))
        grantType = usesAssertion ? try node.bind("urn:ietf:params:oauth:grant-type:jwt-bearer", key: "grant_type")
            : try name("grant_type", "refresh_token")
        if !usesAssertion, case .string("refresh_token")? = node.value("grant_type") ?? .string("refresh_token"), refreshToken == nil, endpoint != nil {
            throw ManifestError(node.path.appending("refresh_token"), "is required when grant_type is refresh_token")
        }
        guard endpoint != nil || accessTokenValue != nil else {
            throw ManifestError(node.path.appending("token_refresh_endpoint"), "is required (or access_token_value)")
        }
        body = try node.interpolatedMapping("refresh_request_body")
        headers = try node.interpolatedMapping("refresh_request_headers")
        argumentsInQuery = try node.bool("send_refresh_request_as_query_params", default: false)
        initialExpiry = try node.interpolation("token_expiry_date")
        expiryIsTime = try node.string("token_expiry_date_format").map { !$0.isEmpty } ?? false
    }

    func apply(to request: inout RequestParts, context: ExpressionContext, transport: any HTTPTransport,
               environment: EngineEnvironment, tokens: TokenStore) async throws {
        // The clock of this request, not of the slice's context: a long read outlives its token.
        let now = environment.now()
        let token = try await tokens.token(for: ObjectIdentifier(self), now: now) {
            if let value = self.accessTokenValue {
                // A token given in the config serves until its stated expiry; with no endpoint, always.
                let expiry = try self.initialExpiry.flatMap { try $0.text(context) }.flatMap { try? ISO8601.parseDateTime($0) }
                if self.endpoint == nil || expiry.map({ now < $0 }) == true {
                    return (try value.text(context) ?? "", self.endpoint == nil ? nil : expiry)
                }
            }
            return try await self.refresh(context: context, now: now, transport: transport, environment: environment)
        }
        request.headers["Authorization"] = "Bearer " + token
    }

    /// The standard arguments, in the CDK's order: grant type, client credentials (unless the
    /// refresh headers carry an Authorization), refresh token, scopes, then the extra body
    /// fields that don't override any of those. Lists repeat their key, None is left out.
    func arguments(context: ExpressionContext, headers: PyDict, now: PyDateTime) throws -> [(String, String)] {
        if let profileAssertion {
            var token = try profileAssertion.signedToken(context: context, now: now)
            if let prefix = try profileAssertion.headerPrefix?.text(context), !prefix.isEmpty { token = prefix + " " + token }
            return [(try names.grantType.text(context) ?? "grant_type", try grantType.text(context) ?? ""), ("assertion", token)]
        }
        var items: [(String, String)] = []
        var standard = Set<String>()
        func add(_ name: String, _ value: PyValue) {
            standard.insert(name)
            switch value {
            case .none: return
            case .list(let values), .tuple(let values): items += values.map { (name, PyRepr.str($0)) }
            default: items.append((name, PyRepr.str(value)))
            }
        }
        add(try names.grantType.text(context) ?? "grant_type", .string(try grantType.text(context) ?? ""))
        if headers["Authorization"] == nil {
            add(try names.clientID.text(context) ?? "client_id", .string(try clientID.text(context) ?? ""))
            add(try names.clientSecret.text(context) ?? "client_secret", .string(try clientSecret.text(context) ?? ""))
        }
        add(try names.refreshToken.text(context) ?? "refresh_token", try refreshToken.map { .string(try $0.text(context) ?? "") } ?? .none)
        if !scopes.isEmpty { add("scopes", .list(scopes.map(PyValue.string))) }
        for (key, value) in try body?.evaluate(context).entries ?? [] where !standard.contains(PyRepr.str(key)) {
            add(PyRepr.str(key), value)
        }
        return items
    }

    private func refresh(context: ExpressionContext, now: PyDateTime, transport: any HTTPTransport,
                         environment: EngineEnvironment) async throws -> (token: String, expiresAt: PyDateTime?) {
        guard let endpoint, let url = try endpoint.text(context), !url.isEmpty else {
            throw ManifestError(path.appending("token_refresh_endpoint"), "evaluated to nothing")
        }
        let refreshHeaders = try headers?.evaluate(context) ?? PyDict()
        let encoded = try arguments(context: context, headers: refreshHeaders, now: now)
            .map { "\(Requester.formEncode($0.0))=\(Requester.formEncode($0.1))" }.joined(separator: "&")
        var request = HTTPRequestData(method: "POST", url: url, headers: [], body: nil)
        for (key, value) in refreshHeaders.entries { request.headers.append((PyRepr.str(key), PyRepr.str(value))) }
        if argumentsInQuery {
            if !encoded.isEmpty { request.url += (url.contains("?") ? "&" : "?") + encoded }
        } else if !encoded.isEmpty {
            request.body = Array(encoded.utf8)
            request.headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        }
        request.headers.append(("User-Agent", "Tributary"))
        var attempt = 0
        while true {
            attempt += 1
            environment.requestLog?(request)
            let response: HTTPResponseData
            do {
                response = try await transport.send(request, timeout: environment.requestTimeout)
            } catch let error as TransportError {
                guard attempt < Self.maxAttempts else {
                    throw RequestFailure(status: nil, message: "the OAuth token request failed: \(error.message)", path: path, attempts: attempt)
                }
                try await environment.sleep(Self.backoff(attempt))
                continue
            }
            if response.status == 429 || response.status >= 500, attempt < Self.maxAttempts {
                try await environment.sleep(Self.backoff(attempt))
                continue
            }
            guard (200..<300).contains(response.status) else {
                throw RequestFailure(status: response.status, message: "the OAuth token endpoint refused the refresh (HTTP \(response.status))"
                                     + Self.providerError(response.body), path: path, attempts: attempt)
            }
            let decoded: PyValue
            do { decoded = try JSONBody.decode(response.body, path: path) } catch {
                throw RequestFailure(status: response.status, message: "the OAuth token response is not JSON", path: path, attempts: attempt)
            }
            let tokenName = try names.accessToken.text(context) ?? "access_token"
            guard let token = Self.find(tokenName, in: decoded), token != .none, PyRepr.str(token) != "" else {
                throw RequestFailure(status: response.status, message: "the OAuth token response has no \(tokenName)", path: path, attempts: attempt)
            }
            return (PyRepr.str(token), try expiry(of: decoded, context: context, now: now))
        }
    }

    /// When the new token expires: `expires_in` seconds from now, or the time it names when a
    /// format is set; an hour from now when the response says nothing.
    private func expiry(of response: PyValue, context: ExpressionContext, now: PyDateTime) throws -> PyDateTime {
        let name = try names.expiresIn.text(context) ?? "expires_in"
        guard let value = Self.find(name, in: response), value != .none else {
            return try now.adding(PyDuration(seconds: 3600))
        }
        if expiryIsTime {
            do { return try ISO8601.parseDateTime(PyRepr.str(value)) } catch {
                throw RequestFailure(status: nil, message: "the OAuth token response's \(name) is not a date and time", path: path, attempts: 1)
            }
        }
        guard let seconds = Double(PyRepr.str(value)) else {
            throw RequestFailure(status: nil, message: "the OAuth token response's \(name) is not a number of seconds", path: path, attempts: 1)
        }
        // A hostile or broken token endpoint may say 1e300; that is an error, not a trap.
        guard let expiry = try? now.adding(PyDuration(seconds: seconds.rounded(.towardZero))) else {
            throw RequestFailure(status: nil, message: "the OAuth token response's \(name) is out of range", path: path, attempts: 1)
        }
        return expiry
    }

    /// The CDK looks for the key at any depth up to 5, depth first, in dicts and lists.
    static func find(_ key: String, in value: PyValue, depth: Int = 0) -> PyValue? {
        guard depth <= 5 else { return nil }
        switch value {
        case .dict(let dict):
            if let found = dict[key] { return found }
            for (_, child) in dict.entries {
                if let found = find(key, in: child, depth: depth + 1), found != .none { return found }
            }
        case .list(let items):
            for item in items {
                if let found = find(key, in: item, depth: depth + 1), found != .none { return found }
            }
        default: break
        }
        return nil
    }

    /// The provider's own `error` and `error_description`, which say why (a revoked grant, a
    /// wrong client); nothing else of the body, which may echo what was sent.
    static func providerError(_ body: [UInt8]) -> String {
        guard case .dict(let dict)? = try? JSONBody.decode(body, path: .root) else { return "" }
        let parts = ["error", "error_description"].compactMap { key -> String? in
            guard case .string(let text)? = dict[key] else { return nil }
            return String(text.prefix(200))
        }
        return parts.isEmpty ? "" : ": " + parts.joined(separator: ": ")
    }

    static func backoff(_ attempt: Int) -> Double { 5 * Double(1 << min(attempt - 1, 6)) }
}
