import Foundation

/// The request authenticators of the 70% tier, OAuth and signed JWTs.
enum Authenticator: Sendable {
    case none
    case apiKey(header: RequestOption, token: BoundInterpolation)
    case bearer(token: BoundInterpolation)
    case basic(username: BoundInterpolation, password: BoundInterpolation?)
    case sessionToken(SessionTokenAuthenticator)
    case oauth(OAuthAuthenticator)
    case selective(SelectiveAuthenticator)
    case jwt(JwtAuthenticator)
    case legacySession(LegacySessionTokenAuthenticator)

    /// `urlBase`: the requester's, which a `LegacySessionTokenAuthenticator`'s URLs are relative to.
    static func make(_ node: ComponentNode?, urlBase: BoundInterpolation? = nil) throws -> Authenticator {
        guard let node else { return .none }
        switch node.type {
        case "NoAuth": return .none
        case "BearerAuthenticator":
            return .bearer(token: try required(node, "api_token"))
        case "ApiKeyAuthenticator":
            let option: RequestOption
            if let inject = try node.child("inject_into") {
                option = try RequestOption(inject)
            } else {
                let header = try node.string("header") ?? "Authorization"
                option = try RequestOption(ComponentNode(.dict({
                    var d = PyDict(); d["inject_into"] = .string("header"); d["field_name"] = .string(header)
                    d["$parameters"] = node.parameters; return d
                }()), path: node.path))
            }
            return .apiKey(header: option, token: try required(node, "api_token"))
        case "BasicHttpAuthenticator":
            return .basic(username: try required(node, "username"), password: try node.interpolation("password", default: ""))
        case "SessionTokenAuthenticator":
            return .sessionToken(try SessionTokenAuthenticator(node))
        case "OAuthAuthenticator":
            return .oauth(try OAuthAuthenticator(node))
        case "SelectiveAuthenticator":
            return .selective(try SelectiveAuthenticator(node))
        case "JwtAuthenticator":
            return .jwt(try JwtAuthenticator(node))
        case "LegacySessionTokenAuthenticator":
            return .legacySession(try LegacySessionTokenAuthenticator(node, urlBase: urlBase))
        default:
            throw ManifestError(node.path, "unsupported authenticator \(node.kindDescription)")
        }
    }

    /// Whether REFRESH_TOKEN_THEN_RETRY refreshes this authenticator's token: OAuth with a
    /// token endpoint only, as in the CDK; for the rest the action is a plain retry.
    /// (A selective authenticator refreshes when any of its choices does.)
    var refreshes: Bool {
        switch self {
        case .oauth(let authenticator): authenticator.endpoint != nil
        case .selective(let selective): selective.options.values.contains(where: \.refreshes)
        case .none, .apiKey, .bearer, .basic, .sessionToken, .jwt, .legacySession: false
        }
    }

    /// Drops the OAuth token this read holds, so the next request fetches a new one.
    func invalidate(tokens: TokenStore) async {
        switch self {
        case .oauth(let authenticator): await tokens.invalidate(ObjectIdentifier(authenticator))
        case .selective(let selective): for option in selective.options.values { await option.invalidate(tokens: tokens) }
        case .none, .apiKey, .bearer, .basic, .sessionToken, .jwt, .legacySession: break
        }
    }

    private static func required(_ node: ComponentNode, _ key: String) throws -> BoundInterpolation {
        guard let value = try node.interpolation(key) else { throw ManifestError(node.path.appending(key), "is required") }
        return value
    }

    func apply(to request: inout RequestParts, context: ExpressionContext, transport: any HTTPTransport,
               environment: EngineEnvironment, tokens: TokenStore) async throws {
        switch self {
        case .none: break
        case .bearer(let token):
            request.headers["Authorization"] = "Bearer " + (try token.text(context) ?? "")
        case .apiKey(let option, let token):
            try option.inject(.string(try token.text(context) ?? ""), into: &request, context: context)
        case .basic(let username, let password):
            let credentials = (try username.text(context) ?? "") + ":" + (try password?.text(context) ?? "")
            request.headers["Authorization"] = "Basic " + Data(credentials.utf8).base64EncodedString()
        case .sessionToken(let authenticator):
            try await authenticator.apply(to: &request, context: context, transport: transport, environment: environment, tokens: tokens)
        case .oauth(let authenticator):
            try await authenticator.apply(to: &request, context: context, transport: transport, environment: environment, tokens: tokens)
        case .jwt(let authenticator):
            try authenticator.apply(to: &request, context: context, now: environment.now())
        case .legacySession(let authenticator):
            try await authenticator.apply(to: &request, context: context, transport: transport, environment: environment, tokens: tokens)
        case .selective(let selective):
            try await selective.selected(context).apply(to: &request, context: context, transport: transport,
                                                        environment: environment, tokens: tokens)
        }
    }
}
