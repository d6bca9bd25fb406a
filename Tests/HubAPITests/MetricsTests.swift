import Foundation
@testable import HubAPI
import HubCore
import HubQueue
import NIOHTTP1
import Testing
import TributaryTestSupport

/// `/metrics` through real HTTP: request counts and latency by route template and status,
/// and the database-backed gauges, in Prometheus's text format.
@Suite("Metrics endpoint")
struct MetricsTests {
    @Test("requests are counted by method, route template and status, without ids; queue and sync gauges are present")
    func prometheusText() async throws {
        let api = APIWorld()
        try await api.withWorld { world in
            _ = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)", key: world.readA)
            _ = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)", key: world.readA)
            _ = try await api.get("\(world.baseURL)/v1/records?connection_id=\(world.connectionA)&stream=contacts", key: nil)
            _ = try await api.get("\(world.baseURL)/no/such/path", key: nil)
            // Something for the database-backed gauges to report.
            _ = try await JobQueue(client: world.client, logger: TestDatabase.logger).enqueue(JobRequest(kind: "metrics.probe", queue: "probe"))
            let scrape = try #require(await HTTPProbe.get("\(world.baseURL)/metrics"))
            #expect(scrape.status == 200)
            let text = scrape.body
            #expect(text.contains("# TYPE tributary_http_requests_total counter"))
            #expect(text.contains(#"tributary_http_requests_total{method="GET",route="/v1/connections/{id}",status="200"} 2"#), "\(text)")
            #expect(text.contains(#"tributary_http_requests_total{method="GET",route="/v1/records",status="401"} 1"#))
            #expect(text.contains(#"tributary_http_requests_total{method="GET",route="unmatched",status="404"} 1"#))
            #expect(text.contains(#"tributary_http_request_duration_seconds_bucket{method="GET",route="/v1/records",le="+Inf"} 1"#))
            #expect(text.contains(#"tributary_http_request_duration_seconds_count{method="GET",route="/v1/connections/{id}"} 2"#))
            #expect(text.contains("# TYPE tributary_jobs gauge"))
            #expect(text.contains(#"tributary_jobs{queue="probe",state="available"} 1"#), "\(text)")
            #expect(text.contains(#"tributary_queue_ready_jobs{queue="probe"} 1"#), "\(text)")
            #expect(text.contains(#"tributary_queue_running_jobs{queue="probe"} 0"#))
            #expect(text.contains("# TYPE tributary_queue_oldest_ready_seconds gauge"))
            // No connection id (or any uuid) becomes a label value.
            #expect(!text.lowercased().contains(world.connectionA.uuidString.lowercased()))
            // Every sample line is `name{labels} value` or `name value`.
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(line.split(separator: " ").count == 2 && Double(line.split(separator: " ").last!) != nil, "\(line)")
            }
        }
    }

    @Test("with TRIBUTARY_METRICS_TOKEN set, /metrics answers only requests bearing it")
    func protectedByToken() async throws {
        let api = APIWorld()
        let token = "scrape-token-0123456789"
        try await api.withWorld(metricsToken: token) { world in
            for key: String? in [nil, "scrape-token-0123456788", "scrape-token-012345678", world.admin] {
                let refused = try await api.get("\(world.baseURL)/metrics", key: key)
                #expect(refused.status == 401, "\(String(describing: key))")
                #expect(refused.json["code"] == .string("unauthorized"))
            }
            let allowed = try await api.get("\(world.baseURL)/metrics", key: token)
            #expect(allowed.status == 200)
        }
    }

    @Test("a flood of scrapes reads the database once per five seconds, not once per request")
    func scrapesAreCached() async throws {
        let api = APIWorld()
        try await api.withWorld { world in
            let samples = DatabaseSamples(client: world.client, logger: TestDatabase.logger)
            // Concurrent scrapes: the first reads, the rest get what it read (or, while it
            // reads, nothing yet), and none queues another query.
            let families = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<200 { group.addTask { await samples.current().count } }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(await samples.reads == 1)
            #expect(families.contains(6), "\(families)")
            for _ in 0..<100 { _ = await samples.current() }
            #expect(await samples.reads == 1)
        }
    }

    /// A client choosing exotic HTTP methods must not multiply series (each a label set kept
    /// for the life of the process): methods outside the usual set are counted as `other`.
    @Test("exotic methods are counted as other, not one series each")
    func inventedMethodsShareOneSeries() async throws {
        let api = APIWorld()
        try await api.withWorld { world in
            // Methods the HTTP parser knows (it refuses unknown ones before any middleware).
            for method in ["PROPFIND", "MKCOL", "PURGE"] {
                _ = try await api.get("\(world.baseURL)/v1/records", key: nil, method: .RAW(value: method))
            }
            let scrape = try #require(await HTTPProbe.get("\(world.baseURL)/metrics"))
            #expect(scrape.status == 200)
            let text = scrape.body
            #expect(!text.contains("PROPFIND") && !text.contains("MKCOL") && !text.contains("PURGE"), "\(text)")
            #expect(text.contains(#"method="other""#), "\(text)")
        }
    }
}
