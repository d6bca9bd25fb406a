import Foundation
import HubCore
import Hummingbird

/// Answers `/v1/…` (and `/graphql`) requests with 503 problem+json and `Retry-After` while the database is
/// unavailable, instead of letting them wait for it: at once when the watch already knows,
/// and within a quarter second of the watch learning it for requests already waiting (they
/// are cancelled, which withdraws their wait for a pooled connection). Health, metrics and
/// documentation routes pass straight through.
///
/// A responder around the whole router rather than a middleware: a middleware's `next` may
/// not leave its task, and the request must run in a child task that can be cancelled.
struct DatabaseGuardResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == APIRequestContext {
    typealias Context = APIRequestContext
    let inner: Inner
    /// nil when nothing watches the database (tests of the API alone): requests pass through.
    let watch: DatabaseWatch?
    /// How often a waiting request looks at the watch.
    let pollInterval: Duration

    @Sendable func respond(to request: Request, context: Context) async throws -> Response {
        guard let watch, request.uri.path.hasPrefix("/v1/") || request.uri.path == "/graphql" else { return try await inner.respond(to: request, context: context) }
        if watch.isDown { return Self.unavailable(request) }
        let inner = self.inner, pollInterval = self.pollInterval
        return try await withThrowingTaskGroup(of: Response?.self) { group in
            group.addTask { try await inner.respond(to: request, context: context) }
            group.addTask {
                while !watch.isDown { try await Task.sleep(for: pollInterval) }
                return nil
            }
            defer { group.cancelAll() }
            if let response = try await group.next() ?? nil { return response }
            // The database went away while this request waited on it: the request is
            // cancelled by the group as this returns.
            return Self.unavailable(request)
        }
    }

    /// The same 503 problem (with `Retry-After`) as any `database_unavailable` error.
    static func unavailable(_ request: Request) -> Response {
        let offered = request.headers[.init("X-Request-Id")!] ?? ""
        let requestID = RequestIdentifier.accepted(offered) ?? UUID().uuidString.lowercased()
        var response = Problem(HubError(.databaseUnavailable, "the database is unavailable")).response(requestID: requestID)
        response.headers[.init("X-Request-Id")!] = requestID
        return response
    }
}

/// The `X-Request-Id` a client may choose: short, and letters, digits, `-`, `_` and `.` only.
enum RequestIdentifier {
    static func accepted(_ offered: String) -> String? {
        offered.count <= 128 && !offered.isEmpty && offered.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
            ? offered : nil
    }
}
