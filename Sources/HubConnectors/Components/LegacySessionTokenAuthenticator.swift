/// `LegacySessionTokenAuthenticator` (deprecated in the CDK, still in real manifests): a session
/// token sent in a header of its own. A token from the config is checked first, before each
/// request as the CDK does it (a GET of `validate_session_url` with the token), and used while the
/// API accepts it; once it answers 401, or without one, the username and password log in (a JSON
/// POST to `login_url`) and the token at `session_token_response_key` is used, fetched once per
/// read. Every field is read from the config alone; both URLs are relative to the requester's
/// `url_base`.
final class LegacySessionTokenAuthenticator: Sendable {
    let apiURL: BoundInterpolation
    let header: BoundInterpolation
    let sessionToken: BoundInterpolation?
    let responseKey: BoundInterpolation
    let username: BoundInterpolation?
    let password: BoundInterpolation?
    let loginURL: BoundInterpolation
    let validateURL: BoundInterpolation
    let path: ManifestPath

    init(_ node: ComponentNode, urlBase: BoundInterpolation?) throws {
        func required(_ key: String) throws -> BoundInterpolation {
            guard let value = try node.interpolation(key) else { throw ManifestError(node.path.appending(key), "is required") }
            return value
        }
        guard let urlBase else {
            throw ManifestError(node.path, "a LegacySessionTokenAuthenticator needs the url_base of an HttpRequester")
        }
        apiURL = urlBase
        header = try required("header")
        sessionToken = try node.interpolation("session_token")
        responseKey = try required("session_token_response_key")
        username = try node.interpolation("username")
        password = try node.interpolation("password", default: "")
        loginURL = try required("login_url")
        validateURL = try required("validate_session_url")
        path = node.path
    }

    func apply(to request: inout RequestParts, context: ExpressionContext, transport: any HTTPTransport,
               environment: EngineEnvironment, tokens: TokenStore) async throws {
        let config = context.configOnly
        func text(_ value: BoundInterpolation?) throws -> String? {
            guard let rendered = try value?.text(config), !rendered.isEmpty else { return nil }
            return rendered
        }
        let headerName = try text(header) ?? ""
        let base = try text(apiURL) ?? ""
        if let token = try text(sessionToken), try await isValid(token, header: headerName, base: base, config: config,
                                                                  transport: transport, environment: environment) {
            request.headers[headerName] = token
            return
        }
        guard let username = try text(username), let password = try text(password) else {
            throw RequestFailure(status: nil, message: "invalid credentials: the session token is not valid, and there is no username and password",
                                 path: path, attempts: 1, isConfigurationError: true)
        }
        let loginURL = base + (try text(self.loginURL) ?? "")
        let key = try text(responseKey) ?? ""
        let token = try await tokens.token(for: ObjectIdentifier(self), now: context.now, expiration: nil) {
            var body = PyDict()
            body["username"] = .string(username)
            body["password"] = .string(password)
            let login = HTTPRequestData(method: "POST", url: loginURL,
                                        headers: [("Content-Type", "application/json"), ("User-Agent", "Tributary")],
                                        body: Array(try PyRepr.jsonDumps(.dict(body)).utf8))
            let response = try await transport.send(login, timeout: environment.requestTimeout)
            guard (200..<300).contains(response.status) else {
                throw RequestFailure(status: response.status, message: "the login failed: " + Requester.summary(response),
                                     path: self.path.appending("login_url"), attempts: 1,
                                     isConfigurationError: response.status == 401 || response.status == 403)
            }
            guard case .dict(let fields)? = try? JSONBody.decode(response.body, path: self.path),
                  let value = fields[key] else {
                throw ManifestError(self.path.appending("session_token_response_key"), "the login response has no \(key)")
            }
            return PyRepr.str(value)
        }
        request.headers[headerName] = token
    }

    /// As the CDK: a 2xx accepts the token, a 401 rejects it (the login is tried), anything else
    /// fails the request.
    private func isValid(_ token: String, header: String, base: String, config: ExpressionContext,
                         transport: any HTTPTransport, environment: EngineEnvironment) async throws -> Bool {
        let url = base + ((try validateURL.text(config)) ?? "")
        let check = HTTPRequestData(method: "GET", url: url, headers: [(header, token), ("User-Agent", "Tributary")], body: nil)
        let response = try await transport.send(check, timeout: environment.requestTimeout)
        if (200..<300).contains(response.status) { return true }
        if response.status == 401 { return false }
        throw RequestFailure(status: response.status, message: "the session token could not be validated: " + Requester.summary(response),
                             path: path.appending("validate_session_url"), attempts: 1)
    }
}
