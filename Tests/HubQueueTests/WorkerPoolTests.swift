import Foundation
import HubCore
import HubDatabase
import HubQueue
import HubStore
import Logging
import Metrics
import MetricsTestKit
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing
import TributaryTestSupport

/// Metrics are process-wide: one test backend for the whole test process.
let testMetrics: TestMetrics = {
    let metrics = TestMetrics()
    MetricsSystem.bootstrap(metrics)
    return metrics
}()

@Suite("Worker pools")
struct WorkerPoolTests {
    let logger = TestDatabase.logger

    func configuration(_ queue: WorkerConfiguration.Queue = .init(name: "default", slots: 4), grace: Duration = .seconds(5))
        -> WorkerConfiguration
    {
        WorkerConfiguration(
            // A lease far above the heartbeat: the full suite can stall this process for seconds,
            // and a lease lost that way runs a job twice, which these tests count as a failure.
            queues: [queue], lease: .seconds(20), heartbeat: .milliseconds(200), pollInterval: .milliseconds(200),
            rescueInterval: .seconds(1), gracePeriod: grace, retryPolicy: RetryPolicy(base: .milliseconds(100), jitter: 0),
            random: { 0.5 }
        )
    }

    /// Runs the pools while `body` runs, then shuts them down gracefully and waits for them.
    func withPools(_ pools: [WorkerPool], _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(services: pools, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body()
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    // Generous: the full suite runs alongside syncs of 50,000 records; waiting ends as soon as the condition holds.
    func waitUntil(timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws -> Bool {
        try await eventually(timeout: timeout, every: .milliseconds(25), condition, until: { $0 })
    }

    func count(_ queue: JobQueue, _ state: JobState) async throws -> Int {
        try await queue.depth().filter { $0.state == state }.map(\.count).reduce(0, +)
    }

    @Test func runsEveryJobRetriesFailuresAndHonoursSnooze() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        // The test cluster runs with synchronous_commit off; this database's sessions get it on,
        // so that a claim's setting leaking into a pooled connection would show.
        _ = try await TestDatabase.withClient(url) { client in
            try await client.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(url.database) SET synchronous_commit = on"), logger: logger)
        }
        try await TestDatabase.withClient(url) { client in
            let queue = JobQueue(client: client, logger: logger)
            let runs = Mutex<[Int64: Int]>([:])
            let handlers: [String: JobHandler] = [
                "ok": { context in
                    runs.withLock { $0[context.job.id, default: 0] += 1 }
                    return .completed
                },
                "flaky": { context in
                    if context.job.attempt < 3 { throw HubError(.databaseUnavailable, "third party answered 503") }
                    return .completed
                },
                "later": { context in context.job.attempt == 1 ? .snooze(.milliseconds(100)) : .completed },
            ]
            _ = testMetrics
            let pool = WorkerPool(client: client, configuration: configuration(), handlers: handlers, logger: logger)
            let flaky = try await queue.enqueue(JobRequest(kind: "flaky"))
            let later = try await queue.enqueue(JobRequest(kind: "later", maxAttempts: 1))
            _ = try await queue.enqueue(batch: (0..<300).map { _ in JobRequest(kind: "ok") })
            try await withPools([pool]) {
                let check1 = try await waitUntil { try await count(queue, .completed) == 302 }
                #expect(check1, "not every job completed")
            }
            let ranTwice = runs.withLock { $0.filter { $0.value != 1 } }
            #expect(runs.withLock { $0.count } == 300)
            #expect(ranTwice.isEmpty, "jobs run more than once: \(ranTwice)")
            let finished = try testMetrics.expectCounter("hub_jobs_finished_total", [("queue", "default"), ("kind", "flaky"), ("outcome", "failed")])
            #expect(finished.totalValue == 2)
            let completedOK = try testMetrics.expectCounter("hub_jobs_finished_total", [("queue", "default"), ("kind", "ok"), ("outcome", "completed")])
            #expect(completedOK.totalValue >= 300)
            let retried = try await queue.job(flaky)
            #expect(retried.attempt == 3)
            guard case .array(let errors) = retried.errors else { Issue.record("no error history"); return }
            #expect(errors.count == 2)
            #expect(errors.first?["error"] == "third party answered 503")
            let snoozed = try await queue.job(later)
            #expect(snoozed.state == .completed, "a snooze must not use up the only attempt")
            #expect(snoozed.attempt == 2)
            // Claims commit with synchronous_commit off; no pooled connection may keep that
            // (it would make the next borrower's commits non-durable). Holding all four at once
            // reaches each; each must be at the server's own setting.
            let settings = try await client.withConnection { a in
                try await client.withConnection { b in
                    try await client.withConnection { c in
                        try await client.withConnection { d in
                            var values: [Bool] = []
                            for connection in [a, b, c, d] {
                                let rows = try await connection.query(
                                    "SELECT current_setting('synchronous_commit') = 'on'", logger: logger
                                )
                                for try await value in rows.decode(Bool.self) { values.append(value) }
                            }
                            return values
                        }
                    }
                }
            }
            #expect(settings == [true, true, true, true])
        }
    }

    @Test func aRunningJobCanBeCancelled() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let queue = JobQueue(client: client, logger: logger)
            let handlers: [String: JobHandler] = [
                "slow": { _ in
                    try await Task.sleep(for: .seconds(600))
                    return .completed
                }
            ]
            // Heartbeats 5 minutes apart: only the NOTIFY can stop the job within the minute below
            // (generous, as the whole suite shares two cores; a heartbeat would take five).
            var settings = configuration()
            settings.heartbeat = .seconds(300)
            settings.lease = .seconds(600)
            let pool = WorkerPool(client: client, configuration: settings, handlers: handlers, logger: logger)
            let id = try await queue.enqueue(JobRequest(kind: "slow"))
            try await withPools([pool]) {
                let check2 = try await waitUntil { try await queue.job(id).state == .running }
                #expect(check2)
                let started = ContinuousClock.now
                let check3 = try await queue.cancel(id) == .running
                #expect(check3)
                let check4 = try await waitUntil(timeout: .seconds(90)) { try await queue.job(id).state == .cancelled }
                #expect(check4)
                #expect(ContinuousClock.now - started < .seconds(60), "NOTIFY should stop it at once, not at a heartbeat")
            }
        }
    }

    @Test func gracefulShutdownFinishesQuickJobsAndHandsBackTheRest() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let queue = JobQueue(client: client, logger: logger)
            let handlers: [String: JobHandler] = [
                "sleep": { context in
                    let milliseconds = Int(context.job.args["ms"]?.scalarText ?? "0") ?? 0
                    try await Task.sleep(for: .milliseconds(milliseconds))
                    return .completed
                }
            ]
            // Wide margins (the quick job against the grace period, the bound below against the
            // slow job's ten minutes): the machine may be busy with other suites' worker processes.
            let pool = WorkerPool(client: client, configuration: configuration(grace: .seconds(5)), handlers: handlers, logger: logger)
            let quick = try await queue.enqueue(JobRequest(kind: "sleep", args: ["ms": 1500]))
            let slow = try await queue.enqueue(JobRequest(kind: "sleep", args: ["ms": 600_000], maxAttempts: 5))
            var shutdownStarted = ContinuousClock.now
            try await withPools([pool]) {
                // The slow job is running and the quick one was claimed (it may be done already).
                let claimed = try await waitUntil {
                    let slowState = try await queue.job(slow).state
                    let quickState = try await queue.job(quick).state
                    return slowState == .running && (quickState == .running || quickState == .completed)
                }
                #expect(claimed)
                shutdownStarted = ContinuousClock.now
            }
            #expect(ContinuousClock.now - shutdownStarted < .seconds(90), "shutdown must not wait for the ten-minute job")
            let check5 = try await queue.job(quick).state == .completed
            #expect(check5)
            let handedBack = try await queue.job(slow)
            #expect(handedBack.state == .available)
            #expect(handedBack.leaseOwner == nil)
            #expect(handedBack.maxAttempts - handedBack.attempt == 5, "handing back uses no attempt")
        }
    }

    @Test func groupLimitsHoldAcrossWorkers() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let queue = JobQueue(client: client, logger: logger)
            let concurrency = Mutex<(now: [String: Int], peak: [String: Int])>(([:], [:]))
            let handlers: [String: JobHandler] = [
                "call": { context in
                    let group = context.job.args["account"]?.scalarText ?? "-"
                    concurrency.withLock { state in
                        state.now[group, default: 0] += 1
                        state.peak[group] = max(state.peak[group] ?? 0, state.now[group] ?? 0)
                    }
                    try await Task.sleep(for: .milliseconds(40))
                    concurrency.withLock { $0.now[group, default: 0] -= 1 }
                    return .completed
                }
            ]
            let settings = WorkerConfiguration.Queue(name: "sync", slots: 6, batch: 6, grouped: true)
            let pools = (0..<3).map { index in
                var configuration = configuration(settings)
                configuration.owner = "pool-\(index)"
                return WorkerPool(client: client, configuration: configuration, handlers: handlers, logger: logger)
            }
            var jobs = (0..<24).map { _ in JobRequest(kind: "call", queue: "sync", args: ["account": "a"], groupKey: "a", groupLimit: 2) }
            jobs += (0..<12).map { _ in JobRequest(kind: "call", queue: "sync", args: ["account": "b"], groupKey: "b", groupLimit: 1) }
            jobs += (0..<12).map { _ in JobRequest(kind: "call", queue: "sync", args: ["account": "free"]) }
            _ = try await queue.enqueue(batch: jobs)
            try await withPools(pools) {
                let check6 = try await waitUntil(timeout: .seconds(90)) { try await count(queue, .completed) == 48 }
                #expect(check6)
            }
            let peak = concurrency.withLock { $0.peak }
            #expect((peak["a"] ?? 0) <= 2, "group a ran \(peak["a"] ?? 0) at once")
            #expect((peak["b"] ?? 0) <= 1, "group b ran \(peak["b"] ?? 0) at once")
            #expect((peak["a"] ?? 0) == 2, "the limit should also be used, not just respected")
        }
    }
}
