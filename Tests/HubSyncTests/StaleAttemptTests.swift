import Foundation
import HubConnectors
import HubCore
import HubQueue
import HubStore
import HubSync
import Logging
import PostgresNIO
import Synchronization
import Testing
import TributaryTestSupport

/// The run bookkeeping of a sync is fenced by the job's attempt. These tests drive a real sync
/// job whose attempt is taken over while it waits on the third-party API, as the lease rescue
/// does when a worker stalls (a long GC pause, a frozen VM, a network partition) and comes back
/// without having noticed.
@Suite("A stale sync attempt")
struct StaleAttemptTests {
    @Test("an attempt that lost its job without noticing records nothing: its failure is dropped, the run stays the new attempt's")
    func staleFailureIsDropped() async throws {
        // Every page waits 3 s; the first answers 400, which the default error handler fails.
        let crm = FakeCRM(count: 10, pageDelay: .seconds(3))
        crm.inject(.reply(400, #"{"error":"stale attempt's answer"}"#), atRequest: 1)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm)
                let started = try await SyncService(client: client, logger: harness.logger).start(connection: harness.connection)
                let run = try #require(started.first?.run)
                let lines = RecordedLog()
                let logger = Logger(label: "stale-attempt") { _ in RecordingLogHandler(log: lines) }
                // A heartbeat far beyond the test, so this worker does not learn of the takeover
                // by renewing its lease: it finds out only when it writes.
                let worker = WorkerPool(
                    client: client,
                    configuration: WorkerConfiguration(queues: [.init(name: SyncJobs.queue, slots: 1, grouped: true)], owner: "worker-a",
                                                       lease: .seconds(600), heartbeat: .seconds(300), pollInterval: .milliseconds(100)),
                    handlers: SyncJobs.handlers(client: client, keyring: harness.keyring, logger: logger, transport: LoopbackEgress.transport,
                                                environment: EngineEnvironment(sleep: { _ in }), batchSize: 250),
                    logger: logger
                )
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await worker.run() }
                    defer { group.cancelAll() }
                    _ = try await eventually(timeout: .seconds(30)) { crm.requests } until: { $0 >= 1 }
                    // Attempt 1's request is in flight. The rescue hands the job to worker-b.
                    let taken = try await harness.count("""
                        WITH taken AS (
                            UPDATE jobs SET attempt = attempt + 1, lease_owner = 'worker-b', lease_expires_at = now() + interval '10 minutes'
                            WHERE kind = 'sync.stream' AND state = 'running' AND lease_owner = 'worker-a' RETURNING id
                        ) SELECT count(*)::int FROM taken
                        """)
                    #expect(taken == 1)
                    // Attempt 1 gets its 400 and fails; the worker logs that the failure found the
                    // lease gone.
                    let reported = try await eventually(timeout: .seconds(30)) { lines.contains("job failed", "lease lost") } until: { $0 }
                    #expect(reported, "the worker never reported attempt 1's failure")
                }
                #expect(crm.requests == 1, "attempt 1 read no further page after its failure")
                let runs = try await harness.runs.runs(ids: [run])
                #expect(runs.map(\.status) == [.running], "the run is worker-b's, still running: \(runs.map { $0.error ?? "" })")
                #expect(runs.first?.error == nil)
                let connection = try #require(try await harness.connections.summary(tenant: harness.tenant, id: harness.connection))
                #expect(connection.lastError == nil, "attempt 1's failure reached the connection: \(connection.lastError ?? "")")
                #expect(connection.status == .active)
                // The job itself: worker-b's attempt 2, running, with no failure recorded.
                #expect(try await harness.count("""
                    SELECT count(*)::int FROM jobs WHERE kind = 'sync.stream' AND state = 'running' AND attempt = 2
                      AND lease_owner = 'worker-b' AND errors = '[]'::jsonb
                    """) == 1)
            }
        }
    }
}

/// Log lines kept in memory, for a test to wait on what a worker reports.
final class RecordedLog: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    /// Whether one line contains every fragment.
    func contains(_ fragments: String...) -> Bool {
        lines.withLock { all in all.contains { line in fragments.allSatisfy { line.contains($0) } } }
    }
}

/// A log handler writing each message and its metadata as one line into a `RecordedLog`.
struct RecordingLogHandler: LogHandler {
    let log: RecordedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        log.append("\(event.message) " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}
