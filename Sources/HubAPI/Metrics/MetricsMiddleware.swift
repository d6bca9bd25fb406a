import Foundation
import HubCore
import Hummingbird

/// Counts every request and times it, by method, route template and status. Routes are the
/// documented templates (`/v1/connections/{id}`), never raw paths: ids in labels would make
/// one series per connection, and put identifiers into the metrics.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let registry: PrometheusRegistry

    static let requests = "tributary_http_requests_total"
    static let duration = "tributary_http_request_duration_seconds"

    init(registry: PrometheusRegistry) {
        self.registry = registry
        registry.describe(Self.requests, "HTTP requests answered, by method, route and status")
        registry.describe(Self.duration, "Time to answer an HTTP request, by method and route")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = RouteTable.template(for: request.uri.path) ?? "unmatched"
        let method = request.method.rawValue
        // ProblemMiddleware (inside this one) turns every error into a response, so each request has a status.
        let response = try await next(request, context)
        registry.increment(Self.requests, [("method", method), ("route", route), ("status", String(response.status.code))])
        registry.observe(Self.duration, [("method", method), ("route", route)], (ContinuousClock.now - start).inSeconds)
        return response
    }
}
