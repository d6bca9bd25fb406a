/// `SessionTokenAuthenticator`: logs in with its own requester, reads the token from the
/// response, and injects it (as an API key or bearer token) into every request; the token is
/// cached for `expiration_duration` (or the whole read) in the read's own `TokenStore`.
final class SessionTokenAuthenticator: Sendable {
    let login: Requester
    let tokenPath: [String]
    let expiration: PyDuration?
    let injection: RequestOption?
    let path: ManifestPath

    init(_ node: ComponentNode) throws {
        login = try Requester(try node.requiredChild("login_requester"))
        tokenPath = try node.stringList("session_token_path")
        guard !tokenPath.isEmpty else { throw ManifestError(node.path.appending("session_token_path"), "is required") }
        expiration = try node.string("expiration_duration").map {
            do { return try ISO8601.parseDuration($0) } catch {
                throw ManifestError(node.path.appending("expiration_duration"), "expected an ISO 8601 duration such as PT1H")
            }
        }
        let authentication = try node.requiredChild("request_authentication")
        if authentication.type == "Bearer" {
            injection = nil
        } else {
            injection = try RequestOption(try authentication.requiredChild("inject_into"))
        }
        path = node.path
    }

    func apply(to request: inout RequestParts, context: ExpressionContext, transport: any HTTPTransport,
               environment: EngineEnvironment, tokens: TokenStore) async throws {
        let token = try await tokens.token(for: ObjectIdentifier(self), now: context.now, expiration: expiration) {
            var parts = try self.login.prepare(context: context)
            try await self.login.authenticator.apply(to: &parts, context: context, transport: transport,
                                                     environment: environment, tokens: tokens)
            let response = try await self.login.send(parts, transport: transport, context: context, environment: environment)
            var value = try JSONBody.decode(response.body, path: self.path)
            for key in self.tokenPath {
                guard case .dict(let dict) = value, let next = dict[key] else {
                    throw ManifestError(self.path.appending("session_token_path"),
                                        "the login response has no \(self.tokenPath.joined(separator: "."))")
                }
                value = next
            }
            return PyRepr.str(value)
        }
        if let injection {
            try injection.inject(.string(token), into: &request, context: context)
        } else {
            request.headers["Authorization"] = "Bearer " + token
        }
    }
}
