import Foundation
import HubCore
import HubDatabase
import HubQueue
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

/// The queue with real worker processes, as production runs it: several at once, killed,
/// stalled, and competing schedulers.
@Suite("The queue across real processes", .serialized)
struct QueueProcessTests {
    let logger = TestDatabase.logger

    /// A migrated database with the table fixture workers record their runs in.
    func prepare() async throws -> DatabaseURL {
        let url = try await TestDatabase.makeMigratedDatabase()
        _ = try await TestDatabase.withClient(url) { client in
            try await client.query(
                "CREATE TABLE fixture_runs (job_id bigint NOT NULL, attempt int NOT NULL, worker text NOT NULL, at timestamptz DEFAULT now())",
                logger: logger
            )
        }
        return url
    }

    func fixture(_ role: String, _ url: DatabaseURL, _ settings: [String: String] = [:]) throws -> TributaryProcess {
        var environment = settings
        environment["TRIBUTARY_DATABASE_URL"] = url.revealedString
        return try TributaryProcess([role], environment: environment, executable: TributaryProcess.builtExecutable("QueueFixtureWorker"))
    }

    func scalar(_ url: DatabaseURL, _ sql: String) async throws -> Int {
        try await TestDatabase.scalar(url, sql)
    }

    func text(_ url: DatabaseURL, _ sql: String) async throws -> String {
        try await TestDatabase.withClient(url) { client in
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) { return value }
            return ""
        }
    }

    func waitFor(_ url: DatabaseURL, _ sql: String, toBe expected: Int, timeout: Duration) async throws -> Int {
        try await eventually(timeout: timeout, { try await scalar(url, sql) }, until: { $0 == expected })
    }

    @Test func fourWorkerProcessesRunTwentyThousandJobsExactlyOnce() async throws {
        let url = try await prepare()
        try await TestDatabase.withClient(url) { client in
            _ = try await JobQueue(client: client, logger: logger).enqueue(batch: (0..<20_000).map { _ in JobRequest(kind: "fixture.count") })
        }
        let workers = try (0..<4).map { _ in try fixture("worker", url, ["FIXTURE_SLOTS": "25", "FIXTURE_BATCH": "50"]) }
        let completed = try await waitFor(url, "SELECT count(*)::int8 FROM jobs WHERE state = 'completed'", toBe: 20_000, timeout: .seconds(240))
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { #expect(await worker.waitForExit(timeout: .seconds(15)) == 0, "\(worker.standardError)") }
        #expect(completed == 20_000)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM fixture_runs") == 20_000, "a job ran twice or not at all")
        #expect(try await scalar(url, "SELECT count(DISTINCT job_id)::int8 FROM fixture_runs") == 20_000)
        #expect(try await scalar(url, "SELECT count(DISTINCT worker)::int8 FROM fixture_runs") == 4, "all four processes should share the work")
    }

    @Test func aKilledWorkersJobRunsOnceMoreElsewhere() async throws {
        let url = try await prepare()
        let id = try await TestDatabase.withClient(url) { client in
            try await JobQueue(client: client, logger: logger).enqueue(JobRequest(kind: "fixture.sleep", args: ["ms": 1500]))
        }
        let fast = ["FIXTURE_LEASE_MS": "1500", "FIXTURE_HEARTBEAT_MS": "300", "FIXTURE_RESCUE_MS": "300", "FIXTURE_POLL_MS": "200"]
        let doomed = try fixture("worker", url, fast)
        #expect(try await waitFor(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(id) AND state = 'running'", toBe: 1, timeout: .seconds(30)) == 1)
        doomed.signal(SIGKILL)
        _ = await doomed.waitForExit(timeout: .seconds(5))
        let survivor = try fixture("worker", url, fast)
        let done = try await waitFor(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(id) AND state = 'completed'", toBe: 1, timeout: .seconds(30))
        survivor.signal(SIGTERM)
        _ = await survivor.waitForExit(timeout: .seconds(10))
        #expect(done == 1)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM fixture_runs") == 1)
        #expect(try await scalar(url, "SELECT attempt FROM fixture_runs") == 2)
        #expect(try await scalar(url, "SELECT jsonb_array_length(errors)::int8 FROM jobs WHERE id = \(id)") == 1, "the lost attempt is recorded")
    }

    @Test func aStalledWorkerThatComesBackCannotCommitOverItsSuccessor() async throws {
        let url = try await prepare()
        let id = try await TestDatabase.withClient(url) { client in
            try await JobQueue(client: client, logger: logger).enqueue(JobRequest(kind: "fixture.sleep", args: ["ms": 1500]))
        }
        let fast = ["FIXTURE_LEASE_MS": "1000", "FIXTURE_HEARTBEAT_MS": "250", "FIXTURE_RESCUE_MS": "300", "FIXTURE_POLL_MS": "200"]
        let stalled = try fixture("worker", url, fast)
        #expect(try await waitFor(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(id) AND state = 'running'", toBe: 1, timeout: .seconds(30)) == 1)
        stalled.signal(SIGSTOP)  // a long GC pause, a frozen VM: it stops renewing its lease
        let successor = try fixture("worker", url, fast)
        let done = try await waitFor(url, "SELECT count(*)::int8 FROM fixture_runs WHERE attempt = 2", toBe: 1, timeout: .seconds(30))
        stalled.signal(SIGCONT)  // it wakes up, finishes its sleep and tries to write
        try await Task.sleep(for: .seconds(3))
        for worker in [stalled, successor] { worker.signal(SIGTERM) }
        for worker in [stalled, successor] { _ = await worker.waitForExit(timeout: .seconds(10)) }
        #expect(done == 1)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM fixture_runs") == 1, "the stalled attempt's write must be rejected")
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(id) AND state = 'completed' AND attempt = 2") == 1)
    }

    /// A worker frozen while its transaction is open holds the job row's lock. The rescue must
    /// not wait for it (nor hold up the rescuing worker's own heartbeats): the server ends the
    /// frozen session (`idle_in_transaction_session_timeout`), a later rescue takes the job,
    /// and the frozen attempt's write is gone when it wakes.
    @Test func aWorkerFrozenInsideItsTransactionIsRescuedWithoutStallingOthers() async throws {
        let url = try await prepare()
        let held = try await TestDatabase.withClient(url) { client in
            try await JobQueue(client: client, logger: logger).enqueue(JobRequest(kind: "fixture.hold", args: ["ms": 2000]))
        }
        let fast = ["FIXTURE_LEASE_MS": "1500", "FIXTURE_HEARTBEAT_MS": "300", "FIXTURE_RESCUE_MS": "300", "FIXTURE_POLL_MS": "200",
                    "FIXTURE_IDLE_TX_MS": "4000"]
        let frozen = try fixture("worker", url, fast)
        // Frozen inside the open transaction, after its insert: the job row is share-locked.
        let idle = "SELECT count(*)::int8 FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'INSERT INTO fixture_runs%'"
        #expect(try await waitFor(url, idle, toBe: 1, timeout: .seconds(30)) == 1, "\(frozen.standardError)")
        frozen.signal(SIGSTOP)
        let frozenAt = ContinuousClock.now

        // The rescuing worker has a long job of its own, whose lease it must keep renewing
        // every 300 ms throughout, however long the rescue of the frozen job takes.
        let own = try await TestDatabase.withClient(url) { client in
            try await JobQueue(client: client, logger: logger).enqueue(JobRequest(kind: "fixture.sleep", args: ["ms": 9000]))
        }
        let rescuer = try fixture("worker", url, fast)
        let rescued = try await waitFor(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(held) AND state = 'completed'", toBe: 1,
                                        timeout: .seconds(60))
        let rescueTook = ContinuousClock.now - frozenAt
        let ownDone = try await waitFor(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(own) AND state = 'completed'", toBe: 1,
                                        timeout: .seconds(30))
        frozen.signal(SIGCONT)  // it wakes into a session the server has ended
        try await Task.sleep(for: .seconds(3))
        for worker in [frozen, rescuer] { worker.signal(SIGTERM) }
        for worker in [frozen, rescuer] { _ = await worker.waitForExit(timeout: .seconds(10)) }

        #expect(rescued == 1, "the frozen worker's job was never rescued: \(rescuer.standardError)")
        // Lease 1.5 s, then the server's 4 s idle limit, then a rescue and a 2 s rerun: about 8 s
        // (the bound is for a loaded machine; a rescue stuck behind the frozen lock never ends).
        #expect(rescueTook < .seconds(45), "rescue took \(rescueTook)")
        let ownRow = try await text(url, "SELECT state || ' ' || attempt || ' ' || errors::text FROM jobs WHERE id = \(own)")
        #expect(ownDone == 1, "\(ownRow)\n\(rescuer.standardError)")
        #expect(try await scalar(url, "SELECT attempt FROM jobs WHERE id = \(own)") == 1, "the rescuer's own lease lapsed")
        #expect(try await scalar(url, "SELECT jsonb_array_length(errors)::int8 FROM jobs WHERE id = \(own)") == 0)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM fixture_runs WHERE job_id = \(held)") == 1, "exactly one attempt's write")
        #expect(try await scalar(url, "SELECT attempt FROM fixture_runs WHERE job_id = \(held)") == 2)
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM fixture_runs WHERE job_id = \(own)") == 1)
    }

    /// A worker draining for shutdown whose own task is then cancelled (a service group past
    /// its grace) must wait for a stubborn job without spinning: the wait used to poll with
    /// `Task.sleep`, which returns at once in a cancelled task, for the whole grace period.
    @Test func aCancelledDrainWaitsForItsJobWithoutSpinning() async throws {
        let url = try await prepare()
        let id = try await TestDatabase.withClient(url) { client in
            try await JobQueue(client: client, logger: logger).enqueue(JobRequest(kind: "fixture.stubborn", args: ["ms": 4000]))
        }
        let worker = try fixture("worker", url, ["FIXTURE_GRACE_MS": "90000", "FIXTURE_POLL_MS": "200"])
        #expect(try await waitFor(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(id) AND state = 'running'", toBe: 1, timeout: .seconds(30)) == 1)
        worker.signal(SIGTERM)  // graceful: stop claiming, give the job its grace
        try await Task.sleep(for: .milliseconds(300))
        let before = try #require(Self.cpuSeconds(worker.pid))
        let cancelled = ContinuousClock.now
        worker.signal(SIGUSR1)  // now cancel the pool while the job still runs
        // Sampled while it runs: once reaped, the process has no /proc entry to read.
        var status: Int32?
        var spent = before
        while status == nil, ContinuousClock.now - cancelled < .seconds(120) {
            spent = Self.cpuSeconds(worker.pid) ?? spent
            status = await worker.waitForExit(timeout: .milliseconds(100))
        }
        let took = ContinuousClock.now - cancelled
        let cpu = spent - before
        #expect(status != nil, "the worker did not stop: \(worker.standardError)")
        // The stubborn job takes up to 4 s more; the old drain spun on a core until the 90 s grace.
        #expect(took < .seconds(45), "stopping took \(took)")
        #expect(cpu < 0.5, "the worker burned \(cpu) s of CPU while waiting for its job")
        #expect(try await scalar(url, "SELECT count(*)::int8 FROM jobs WHERE id = \(id) AND state IN ('available', 'retryable')") == 1,
                "the unfinished job is handed back")
    }

    /// User plus system CPU time of a live process, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        // After the command's closing parenthesis: utime and stime are the 12th and 13th fields.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test func twoSchedulersEnqueueEachPeriodOnceAndTakeOverFromEachOther() async throws {
        let url = try await prepare()
        let settings = ["FIXTURE_PERIOD_MS": "500"]
        let first = try fixture("scheduler", url, settings)
        try await Task.sleep(for: .milliseconds(800))
        let second = try fixture("scheduler", url, settings)
        try await Task.sleep(for: .seconds(3))
        let beforeKill = try await scalar(url, "SELECT count(*)::int8 FROM periodic_runs")
        first.signal(SIGKILL)  // the leader dies without a word
        _ = await first.waitForExit(timeout: .seconds(5))
        try await Task.sleep(for: .seconds(3))
        second.signal(SIGTERM)
        #expect(await second.waitForExit(timeout: .seconds(10)) == 0, "\(second.standardError)")

        let periods = try await scalar(url, "SELECT count(*)::int8 FROM periodic_runs")
        let jobs = try await scalar(url, "SELECT count(*)::int8 FROM jobs WHERE kind = 'fixture.tick'")
        let distinctArgs = try await scalar(url, "SELECT count(DISTINCT args->>'period')::int8 FROM jobs WHERE kind = 'fixture.tick'")
        #expect(jobs == periods, "every period enqueued exactly one job")
        #expect(distinctArgs == jobs, "no period was enqueued twice")
        #expect(beforeKill >= 5, "the first scheduler should have enqueued ~7 periods, did \(beforeKill)")
        #expect(periods - beforeKill >= 3, "the second scheduler must take over within seconds (added \(periods - beforeKill))")
        // Periods are consecutive: at most the takeover gap is missing.
        let span = try await scalar(url, "SELECT (extract(epoch FROM max(period_start) - min(period_start)) / 0.5)::int8 + 1 FROM periodic_runs")
        #expect(span - periods <= 4, "\(span - periods) periods were skipped")
    }
}
