import Foundation
import HubCore
import HubQueue
import HubStore
import Hummingbird
import Logging
import PostgresNIO
import Prometheus

/// `GET /metrics`: Prometheus's text format, written by swift-prometheus (the ecosystem's
/// swift-metrics backend; it replaced a registry of our own). Request counts and latencies, and
/// what the queue records through swift-metrics, come from the process's registry; queue depth, sync outcomes by connector and webhook events are read from the
/// database, so every api process reports the same cluster-wide numbers. The route needs no
/// key (scrapers rarely carry one), so those reads are cached: however often it is hit, a
/// process queries the database at most once per `DatabaseSamples.lifetime`.
/// No tenant, connection or key appears in any label.
struct MetricsController: Sendable {
    let registry: PrometheusCollectorRegistry
    let samples: DatabaseSamples
    /// `TRIBUTARY_METRICS_TOKEN`, as bytes; nil leaves the route open.
    let token: Secret<[UInt8]>?

    init(registry: PrometheusCollectorRegistry, client: PostgresClient, token: Secret<String>? = nil, knownQueues: [String] = [], logger: Logger) {
        self.registry = registry
        self.samples = DatabaseSamples(client: client, knownQueues: knownQueues, logger: logger)
        self.token = token.map { Secret(Array($0.revealed.utf8)) }
    }

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get("/metrics") { request, _ in
            if let token, !Self.bears(request.headers[.authorization], token.revealed) {
                throw Problem.unauthorized("/metrics needs the token configured as TRIBUTARY_METRICS_TOKEN, as `Authorization: Bearer …`")
            }
            return await scrape()
        }
    }

    /// Whether `header` is `Bearer <token>`, compared in time independent of where they differ.
    static func bears(_ header: String?, _ token: [UInt8]) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        return ApiKeyStore.constantTimeEqual(Array(header.utf8.dropFirst(7)), token)
    }

    func scrape() async -> Response {
        let extra = await samples.current()
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        var text = registry.emitToBuffer()
        // The database's figures go in a registry of their own, made afresh from each read:
        // a queue state that emptied must vanish, not linger at its last value.
        let sampled = PrometheusCollectorRegistry()
        for family in extra {
            for (labels, value) in family.samples {
                sampled.makeGauge(descriptor: MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help), labels: labels)
                    .set(value)
            }
        }
        sampled.emit(into: &text)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }
}

/// The database-derived families of `/metrics`, read at most once per `lifetime`. While one
/// scrape refreshes them, others get the previous figures rather than queueing up queries:
/// a flood of unauthenticated scrapes costs the database one query set every few seconds.
actor DatabaseSamples {
    typealias Family = (name: String, help: String, samples: [([(String, String)], Double)])

    static let lifetime: Duration = .seconds(5)

    private let client: PostgresClient
    private let knownQueues: [String]
    private let logger: Logger
    private var families: [Family] = []
    private var readAt: ContinuousClock.Instant?
    private var refreshing = false
    /// How many times the database was read, for tests.
    private(set) var reads = 0

    init(client: PostgresClient, knownQueues: [String] = [], logger: Logger) {
        self.client = client
        self.knownQueues = knownQueues
        self.logger = logger
    }

    func current() async -> [Family] {
        let now = ContinuousClock.now
        if let readAt, now - readAt < Self.lifetime { return families }
        if refreshing { return families }
        refreshing = true
        defer { refreshing = false }
        let fresh = await read()
        families = fresh
        readAt = ContinuousClock.now
        return fresh
    }

    private func read() async -> [Family] {
        reads += 1
        var extra: [Family] = []
        // A database that is down must not take the request metrics with it.
        if let depth = try? await JobQueue(client: client, logger: logger).depth() {
            extra.append(("tributary_jobs", "Jobs in the queue by queue and state",
                          depth.map { ([("queue", $0.queue), ("state", $0.state.rawValue)], Double($0.count)) }))
        }
        // The autoscaling signal (KEDA, CloudWatch): work waiting now, and how long it has waited.
        if let load = try? await JobQueue(client: client, logger: logger).load(known: knownQueues) {
            extra.append(("tributary_queue_ready_jobs", "Jobs a worker could claim now, by queue",
                          load.map { ([("queue", $0.queue)], Double($0.ready)) }))
            extra.append(("tributary_queue_running_jobs", "Jobs running, by queue",
                          load.map { ([("queue", $0.queue)], Double($0.running)) }))
            extra.append(("tributary_queue_oldest_ready_seconds", "Seconds the oldest claimable job has waited since it became due, by queue",
                          load.map { ([("queue", $0.queue)], $0.oldestReadySeconds) }))
        }
        if let counts = try? await RunStore(client: client, logger: logger).outcomeCounts() {
            extra.append(("tributary_sync_runs", "Stream sync runs by connector and status",
                          counts.runs.map { ([("connector", $0.connector), ("status", $0.status)], Double($0.count)) }))
            extra.append(("tributary_webhook_events", "Webhook events received, by connector and status",
                          counts.webhooks.map { ([("connector", $0.connector), ("status", $0.status)], Double($0.count)) }))
        }
        return extra
    }
}
