import Foundation
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
        context.requestID = offered.count <= 128 && !offered.isEmpty && offered.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
            ? offered : UUID().uuidString.lowercased()
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
            response = Problem(status: error.status, code: error.status == .notFound ? "not_found" : "http_error",
                               title: error.status.reasonPhrase, detail: error.body ?? error.status.reasonPhrase)
                .response(requestID: context.requestID)
        } catch {
            context.logger.error("request failed", metadata: ["hub.error": "\(type(of: error))"])
            response = Problem(HubError(.internalError, "unexpected")).response(requestID: context.requestID)
        }
        response.headers[.init("X-Request-Id")!] = context.requestID
        return response
    }
}

/// Bearer API keys: fills the context's identity or answers 401.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let keys: ApiKeyStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem.unauthorized("send an API key as `Authorization: Bearer trb_…`")
        }
        guard let identity = try await keys.authenticate(String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)) else {
            throw Problem.unauthorized("the API key is unknown, revoked or expired")
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "hub.api_key"] = .string(identity.keyID.uuidString.lowercased())
        return try await next(request, context)
    }
}
