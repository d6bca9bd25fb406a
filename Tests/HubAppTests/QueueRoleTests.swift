import Foundation
import HubApp
import HubCore
import HubDatabase
import HubEmbeddedPostgres
import HubQueue
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

@Suite("Worker and scheduler roles, and the jobs commands")
struct QueueRoleTests {
    let logger = TestDatabase.logger

    func scalar(_ url: DatabaseURL, _ sql: String) async throws -> Int {
        try await TestDatabase.withClient(url) { client in
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return value }
            return -1
        }
    }

    @Test func theSchedulerAndWorkerRolesPruneFinishedJobs() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let queue = JobQueue(client: client, logger: logger)
            _ = try await queue.enqueue(batch: (0..<5).map { _ in JobRequest(kind: "old") })
            try await client.query(
                "UPDATE jobs SET state = 'completed', finalized_at = now() - interval '30 days' WHERE kind = 'old'", logger: logger
            )
        }
        let environment = [
            "TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_HTTP_ADDRESS": "127.0.0.1:\(try freeLoopbackPort())",
            "TRIBUTARY_JOB_RETENTION_HOURS": "24",
        ]
        let server = try TributaryProcess(["serve", "--role", "all"], environment: environment)
        let remaining = try await eventually(timeout: .seconds(30), every: .milliseconds(200),
                                             { try await scalar(url, "SELECT count(*)::int8 FROM jobs WHERE kind = 'old'") }, until: { $0 == 0 })
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(15)) == 0, "\(server.standardError)")
        #expect(remaining == 0, "finished jobs older than the retention were not pruned")
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM jobs WHERE kind = 'hub.prune_jobs' AND state = 'completed'") == 1)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM periodic_runs WHERE schedule = 'hub.prune_jobs'") == 1)
    }

    @Test func jobsAndQueuesCommands() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let (waiting, failed) = try await TestDatabase.withClient(url) { client in
            let queue = JobQueue(client: client, logger: logger)
            let waiting = try await queue.enqueue(JobRequest(kind: "sync.stream", queue: "sync", args: ["connection": "c1"]))
            let failed = try await queue.enqueue(JobRequest(kind: "sync.stream", queue: "sync", maxAttempts: 1))
            try await client.query(
                """
                UPDATE jobs SET state = 'discarded', attempt = 1, finalized_at = now(),
                    errors = '[{"attempt": 1, "at": "2026-11-27T09:00:00Z", "error": "HTTP 401 from the CRM"}]'
                WHERE id = \(failed)
                """,
                logger: logger
            )
            return (waiting, failed)
        }
        let environment = ["TRIBUTARY_DATABASE_URL": url.revealedString]
        let list = try await TributaryProcess.run(["jobs", "list", "--state", "discarded", "--json"], environment: environment)
        #expect(list.status == 0, "\(list.stderr)")
        let listed = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        #expect(listed?.count == 1)
        #expect((listed?.first?["id"] as? Int).map(Int64.init) == failed)

        let show = try await TributaryProcess.run(["jobs", "show", "\(failed)"], environment: environment)
        #expect(show.stdout.contains("HTTP 401 from the CRM"))

        let retry = try await TributaryProcess.run(["jobs", "retry", "\(failed)"], environment: environment)
        #expect(retry.status == 0, "\(retry.stderr)")
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(failed) AND state = 'available'") == 1)

        let cancel = try await TributaryProcess.run(["jobs", "cancel", "\(waiting)"], environment: environment)
        #expect(cancel.stdout.contains("cancelled"))
        let again = try await TributaryProcess.run(["jobs", "cancel", "\(waiting)"], environment: environment)
        #expect(again.status == 1)
        #expect(again.stderr.contains("job \(waiting) is cancelled"))
        let missing = try await TributaryProcess.run(["jobs", "show", "999999"], environment: environment)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("not found"))

        let pause = try await TributaryProcess.run(["queues", "pause", "sync"], environment: environment)
        #expect(pause.status == 0)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM job_queues WHERE name = 'sync' AND paused") == 1)
        _ = try await TributaryProcess.run(["queues", "resume", "sync"], environment: environment)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM job_queues WHERE name = 'sync' AND paused") == 0)
        let depth = try await TributaryProcess.run(["queues", "list"], environment: environment)
        #expect(depth.stdout.contains("sync"))
        #expect(depth.stdout.contains("available="))
        // The autoscaling signal, as CloudWatch's PutMetricData takes it.
        let metrics = try await TributaryProcess.run(["queues", "metrics", "--cloudwatch", "--namespace", "Hub/Test"], environment: environment)
        #expect(metrics.status == 0, "\(metrics.stderr)")
        let input = try #require(JSONSerialization.jsonObject(with: Data(metrics.stdout.utf8)) as? [String: Any])
        #expect(input["Namespace"] as? String == "Hub/Test")
        let data = try #require(input["MetricData"] as? [[String: Any]])
        let names = Set(data.compactMap { $0["MetricName"] as? String })
        #expect(names == ["QueueReadyJobs", "QueueOldestReadyAge"])
        let queues = Set(data.compactMap { ($0["Dimensions"] as? [[String: String]])?.first?["Value"] })
        #expect(queues.isSuperset(of: ["default", "sync", "maintenance"]), "idle worker queues report 0: \(queues)")
        let badNamespace = try await TributaryProcess.run(["queues", "metrics", "--cloudwatch", "--namespace", "AWS/EC2"], environment: environment)
        #expect(badNamespace.status != 0 && badNamespace.stderr.contains("--namespace"))
    }
}
