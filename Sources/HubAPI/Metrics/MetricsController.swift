import Foundation
import HubQueue
import HubStore
import Hummingbird
import Logging
import PostgresNIO

/// `GET /metrics`: Prometheus's text format. Request counts and latencies come from the
/// registry; queue depth, sync outcomes by connector and webhook events are read from the
/// database at scrape time, so every api process reports the same cluster-wide numbers.
/// No tenant, connection or key appears in any label.
struct MetricsController: Sendable {
    let registry: PrometheusRegistry
    let client: PostgresClient
    let logger: Logger

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get("/metrics") { _, _ in try await scrape() }
    }

    func scrape() async throws -> Response {
        var extra: [(name: String, help: String, samples: [([(String, String)], Double)])] = []
        // A database that is down must not take the request metrics with it.
        if let depth = try? await JobQueue(client: client, logger: logger).depth() {
            extra.append(("tributary_jobs", "Jobs in the queue by queue and state",
                          depth.map { ([("queue", $0.queue), ("state", $0.state.rawValue)], Double($0.count)) }))
        }
        if let counts = try? await SyncStore(client: client, logger: logger).outcomeCounts() {
            extra.append(("tributary_sync_runs", "Stream sync runs by connector and status",
                          counts.runs.map { ([("connector", $0.connector), ("status", $0.status)], Double($0.count)) }))
            extra.append(("tributary_webhook_events", "Webhook events received, by connector and status",
                          counts.webhooks.map { ([("connector", $0.connector), ("status", $0.status)], Double($0.count)) }))
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: registry.render(extra: extra))))
    }
}
