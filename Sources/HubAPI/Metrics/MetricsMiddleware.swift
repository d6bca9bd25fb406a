import Foundation
import HubCore
import Hummingbird
import Prometheus

/// Counts every request and times it, by method, route template and status. Routes are the
/// documented templates (`/v1/connections/{id}`), never raw paths: ids in labels would make
/// one series per connection, and put identifiers into the metrics. Methods outside HTTP's
/// usual set are counted as `other`: a client inventing methods must not invent series.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let registry: PrometheusCollectorRegistry

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "tributary", subsystem: "http", metricName: "requests", unitName: "total",
                             helpText: "HTTP requests answered, by method, route and status")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "tributary", subsystem: "http", metricName: "request_duration", unitName: "seconds",
                             helpText: "Time to answer an HTTP request, by method and route")
    }
    /// Latency buckets in seconds: 1 ms to 10 s.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = RouteTable.template(for: request.uri.path) ?? "unmatched"
        let method = Self.methods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        // ProblemMiddleware (inside this one) turns every error into a response, so each request has a status.
        let response = try await next(request, context)
        registry.makeCounter(descriptor: Self.requests, labels: [("method", method), ("route", route), ("status", String(response.status.code))])
            .increment()
        registry.makeValueHistogram(descriptor: Self.duration, labels: [("method", method), ("route", route)], buckets: Self.buckets)
            .record((ContinuousClock.now - start).inSeconds)
        return response
    }
}
