import Foundation
import HubConnectors
import HubCore
import HubStore
import Hummingbird
import Logging

/// Request ids, problem+json for every error, and the log line an unexpected error deserves.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let offered = request.headers[.init("X-Request-Id")!] ?? ""
        context.requestID = RequestIdentifier.accepted(offered) ?? UUID().uuidString.lowercased()
        context.logger[metadataKey: "hub.request_id"] = .string(context.requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let problem as Problem {
            response = problem.response(requestID: context.requestID)
        } catch let error as HubError {
            if Problem(error).status == .internalServerError {
                context.logger.error("request failed", metadata: ["hub.error": "\(error)"])
            }
            response = Problem(error).response(requestID: context.requestID)
        } catch let error as HTTPError {
            // The router answers 404 for a known path with another method: that is a 405, with
            // the methods the path does have.
            if error.status == .notFound, let allowed = RouteTable.methods(for: request.uri.path),
               !allowed.contains(request.method.rawValue) {
                response = Problem(status: .methodNotAllowed, code: .methodNotAllowed, title: "Method not allowed",
                                   detail: "\(request.method.rawValue) is not allowed here; use \(allowed.joined(separator: ", "))",
                                   headers: [("Allow", allowed.joined(separator: ", "))])
                    .response(requestID: context.requestID)
            } else {
                response = Problem(status: error.status, code: error.status == .notFound ? .notFound : .httpError,
                                   title: error.status.reasonPhrase, detail: error.body ?? error.status.reasonPhrase)
                    .response(requestID: context.requestID)
            }
        } catch {
            context.logger.error("request failed", metadata: ["hub.error": "\(type(of: error))"])
            response = Problem(HubError(.internalError, "unexpected")).response(requestID: context.requestID)
        }
        response.headers[.init("X-Request-Id")!] = context.requestID
        return response
    }
}

/// Bearer API keys: fills the context's identity or answers 401. Each 401 spends a token of
/// the caller's address; an address out of tokens gets 429 before any key is looked up, so
/// requests with made-up keys cannot turn into unbounded database lookups.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let keys: ApiKeyStore
    let failures: RateLimiter<String>
    let trustedProxies: [IPRange]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let address = ClientAddress.resolve(peer: context.peerAddress, forwardedFor: request.headers[.init("X-Forwarded-For")!],
                                            trusted: trustedProxies) ?? "unknown"
        if let wait = failures.peek(address) {
            let seconds = max(1, Int(wait.rounded(.up)))
            throw Problem(status: .tooManyRequests, code: .rateLimited, title: "Too many requests",
                          detail: "too many requests with a missing or unknown API key came from this address; retry after \(seconds) s",
                          headers: [("Retry-After", "\(seconds)")])
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            _ = failures.take(address)
            throw Problem.unauthorized("send an API key as `Authorization: Bearer trb_…`")
        }
        guard let identity = try await keys.authenticate(String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)) else {
            _ = failures.take(address)
            throw Problem.unauthorized("the API key is unknown, revoked or expired")
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "hub.api_key"] = .string(identity.keyID.uuidString.lowercased())
        return try await next(request, context)
    }
}

/// The documented paths and their methods, for 405 answers.
enum RouteTable {
    static let templates: [(segments: [String], methods: [String])] = {
        guard case .object(let paths)? = OpenAPIDocument.document["paths"] else { return [] }
        return paths.map { path, item in
            let methods = item.objectValue?.keys.map { $0.uppercased() }.sorted() ?? []
            return (path.split(separator: "/").map(String.init), methods)
        }
    }()

    static func methods(for path: String) -> [String]? {
        match(path)?.methods
    }

    /// The documented template a path matches (`/v1/connections/{id}`), for metrics labels.
    static func template(for path: String) -> String? {
        match(path).map { "/" + $0.segments.joined(separator: "/") }
    }

    /// Literal segments win over parameters (`/v1/connections/{id}/syncs` is not a parameter).
    private static func match(_ path: String) -> (segments: [String], methods: [String])? {
        let segments = path.split(separator: "/").map(String.init)
        let candidates = templates.filter { template in
            template.segments.count == segments.count
                && zip(template.segments, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 })
        }
        return candidates.min { $0.segments.filter { $0.hasPrefix("{") }.count < $1.segments.filter { $0.hasPrefix("{") }.count }
    }
}
