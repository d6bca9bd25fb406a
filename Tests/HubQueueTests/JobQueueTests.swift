import Foundation
import HubCore
import HubDatabase
@testable import HubQueue
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

@Suite("The job queue's statements")
struct JobQueueTests {
    let logger = TestDatabase.logger
    let owner = "test-worker"

    func withQueue(_ body: (JobQueue, PostgresClient) async throws -> Void) async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in try await body(JobQueue(client: client, logger: logger), client) }
    }

    func claim(_ queue: JobQueue, _ limit: Int = 10, lease: Duration = .seconds(30), owner: String? = nil) async throws -> [ClaimedJob] {
        try await queue.claim(queue: "default", kinds: ["k"], limit: limit, owner: owner ?? self.owner, lease: lease, grouped: false)
    }

    /// The autoscaling signal: due jobs are ready, future ones are not load yet, running ones are
    /// counted apart, the wait is the oldest due job's, and idle known queues report zero.
    @Test func queueLoadCountsWhatIsDueAndHowLongItWaited() async throws {
        try await withQueue { queue, client in
            for _ in 0..<3 { try await queue.enqueue(JobRequest(kind: "k")) }
            try await queue.enqueue(JobRequest(kind: "k", runAt: Date().addingTimeInterval(3600)))
            let claimed = try await claim(queue, 1)
            #expect(claimed.count == 1)
            // The oldest ready job became due five minutes ago.
            try await client.query("UPDATE jobs SET run_at = now() - interval '300 seconds' WHERE id = (SELECT min(id) FROM jobs WHERE state = 'available')", logger: logger)
            try await queue.setPaused(true, queue: "paused-queue")
            let load = try await queue.load(known: ["sync", "default"])
            #expect(load.map(\.queue) == ["default", "paused-queue", "sync"])
            let main = try #require(load.first { $0.queue == "default" })
            #expect(main.ready == 2 && main.running == 1 && !main.paused)
            #expect(main.oldestReadySeconds >= 299 && main.oldestReadySeconds < 360, "\(main.oldestReadySeconds)")
            #expect(load.first { $0.queue == "sync" } == QueueLoad(queue: "sync", ready: 0, running: 0, oldestReadySeconds: 0, paused: false))
            #expect(load.first { $0.queue == "paused-queue" }?.paused == true)
        }
    }

    /// One tenant's backlog must not hold another's syncs behind it: claims take turns.
    @Test func theSyncQueueTakesTurnsBetweenTenants() async throws {
        try await withQueue { queue, _ in
            func request(_ tenant: String) -> JobRequest { JobRequest(kind: "k", queue: "sync", args: ["tenant": .string(tenant)]) }
            // Tenant a queued 30 syncs first; b queues 2 afterwards.
            var a: [Int64] = [], b: [Int64] = []
            for _ in 0..<30 { a.append(try await queue.enqueue(request("a"))) }
            for _ in 0..<2 { b.append(try await queue.enqueue(request("b"))) }
            func claimSync(_ limit: Int) async throws -> [ClaimedJob] {
                try await queue.claim(queue: "sync", kinds: ["k"], limit: limit, owner: owner, lease: .seconds(30), grouped: true)
            }
            // Oldest first would hand out a's jobs only; in turns, b's first job comes second.
            let first = try await claimSync(2)
            #expect(first.map(\.id) == [a[0], b[0]])
            // a now runs one job and b one: the next turns are a's second and b's second.
            let second = try await claimSync(2)
            #expect(Set(second.map(\.id)) == [a[1], b[1]])
            // With b's line empty, a's backlog carries on in order.
            #expect(try await claimSync(3).map(\.id) == Array(a[2..<5]))
        }
    }

    @Test func aWeightedTenantTakesMoreTurnsInProportion() async throws {
        try await withQueue { queue, _ in
            func request(_ tenant: String) -> JobRequest { JobRequest(kind: "k", queue: "sync", args: ["tenant": .string(tenant)]) }
            for _ in 0..<10 { try await queue.enqueue(request("a")) }
            for _ in 0..<10 { try await queue.enqueue(request("b")) }
            try await queue.setShare(QueueShare(weight: 2), queue: "sync", key: "a")
            #expect(try await queue.share(queue: "sync", key: "a") == QueueShare(weight: 2))
            // One claim at a time, nothing finishing: a takes two turns for each of b's.
            var order: [String] = []
            for _ in 0..<9 {
                let claimed = try await queue.claim(queue: "sync", kinds: ["k"], limit: 1, owner: owner, lease: .seconds(30), grouped: true)
                order += claimed.map { $0.args["tenant"]?.stringValue ?? "?" }
            }
            #expect(order == ["a", "b", "a", "a", "b", "a", "a", "b", "a"])
            // Back to the default share: the row goes, and turns are even again.
            try await queue.setShare(QueueShare(), queue: "sync", key: "a")
            #expect(try await queue.share(queue: "sync", key: "a") == QueueShare())
        }
    }

    @Test func aTenantAtItsCapWaitsWhileOthersRunAndTheDefaultCapsEveryone() async throws {
        try await withQueue { queue, _ in
            func request(_ tenant: String) -> JobRequest { JobRequest(kind: "k", queue: "sync", args: ["tenant": .string(tenant)]) }
            func claimSync(_ limit: Int) async throws -> [ClaimedJob] {
                try await queue.claim(queue: "sync", kinds: ["k"], limit: limit, owner: owner, lease: .seconds(30), grouped: true)
            }
            var a: [Int64] = []
            for _ in 0..<10 { a.append(try await queue.enqueue(request("a"))) }
            let b = [try await queue.enqueue(request("b")), try await queue.enqueue(request("b"))]
            try await queue.setShare(QueueShare(maxRunning: 2), queue: "sync", key: "a")
            // Ten slots free, but a may run two at once: b's jobs run, a's others wait.
            let first = try await claimSync(10)
            #expect(Set(first.map(\.id)) == Set(a.prefix(2) + b))
            #expect(try await claimSync(10).isEmpty, "a is at its cap and b's line is empty")
            // One of a's finishes: exactly one more of a's runs.
            #expect(try await queue.complete(first.filter { $0.id == a[0] }) == [a[0]])
            #expect(try await claimSync(10).map(\.id) == [a[2]])

            // The default caps every tenant without a share of its own; a's own share (inheriting
            // the default's cap now) and c's follow it, an explicit cap overrides it.
            try await queue.setShare(QueueShare(weight: 3), queue: "sync", key: "a")
            try await queue.setShare(QueueShare(maxRunning: 1), queue: "sync", key: QueueShare.defaultKey)
            for _ in 0..<3 { try await queue.enqueue(request("c")) }
            let c = try await claimSync(10)
            #expect(c.count == 1 && c.first?.args["tenant"]?.stringValue == "c", "a runs two (cap 1 inherited), c gets one")
            try await queue.setShare(QueueShare(maxRunning: 3), queue: "sync", key: "c")
            #expect(try await claimSync(10).count == 2, "c's own cap of 3 overrides the default's 1")
            #expect(throws: HubError.self) { try QueueShare(weight: 0).validate() }
            #expect(throws: HubError.self) { try QueueShare(maxRunning: 10_001).validate() }
        }
    }

    @Test func uniqueKeysDeduplicateActiveJobsOnly() async throws {
        try await withQueue { queue, _ in
            let first = try await queue.enqueue(JobRequest(kind: "k", uniqueKey: "sync:1:contacts"))
            #expect(try await queue.enqueue(JobRequest(kind: "k", uniqueKey: "sync:1:contacts")) == first)
            let claimed = try await claim(queue)
            #expect(claimed.map(\.id) == [first])
            #expect(try await queue.enqueue(JobRequest(kind: "k", uniqueKey: "sync:1:contacts")) == first, "a running job is active too")
            #expect(try await queue.complete(claimed) == [first])
            let next = try await queue.enqueue(JobRequest(kind: "k", uniqueKey: "sync:1:contacts"))
            #expect(next != first, "once finished, the key is free again")
        }
    }

    @Test func batchEnqueueSkipsActiveDuplicates() async throws {
        try await withQueue { queue, _ in
            _ = try await queue.enqueue(JobRequest(kind: "k", uniqueKey: "dup-3"))
            var batch = (0..<10_000).map { JobRequest(kind: "k", args: ["n": .number(Double($0))]) }
            batch += (0..<5).map { JobRequest(kind: "k", uniqueKey: "dup-\($0)") }
            #expect(try await queue.enqueue(batch: batch) == 10_004)
            let depth = try await queue.depth()
            #expect(depth.first { $0.state == .available }?.count == 10_005)
        }
    }

    @Test func copiedBatchesKeepAwkwardArgsIntact() async throws {
        try await withQueue { queue, _ in
            let awkward: JSONValue = ["path": "C:\\tmp\\x", "text": "tab\there\nnew line\r", "quote": "\"", "emoji": "é ✓"]
            #expect(try await queue.enqueue(batch: [JobRequest(kind: "k\tk", args: awkward, groupKey: "g\\1", groupLimit: 2)]) == 1)
            let stored = try #require(try await queue.list().first)
            #expect(stored.args == awkward)
            #expect(stored.kind == "k\tk")
            #expect(stored.groupKey == "g\\1")
        }
    }

    @Test func claimsByPriorityThenAgeAndNeverTwice() async throws {
        try await withQueue { queue, _ in
            let low = try await queue.enqueue(JobRequest(kind: "k", priority: 5))
            let high = try await queue.enqueue(JobRequest(kind: "k", priority: -1))
            let later = try await queue.enqueue(JobRequest(kind: "k", runAt: Date().addingTimeInterval(3600)))
            _ = try await queue.enqueue(JobRequest(kind: "other"))
            let normal = try await queue.enqueue(JobRequest(kind: "k"))
            #expect(try await claim(queue, 2).map(\.id) == [high, normal])
            #expect(try await claim(queue, 5).map(\.id) == [low], "future and foreign-kind jobs wait")
            #expect(try await queue.job(later).state == .scheduled)

            _ = try await queue.enqueue(batch: (0..<200).map { _ in JobRequest(kind: "k") })
            let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for worker in 0..<8 { group.addTask { try await claim(queue, 30, owner: "w\(worker)").map(\.id) } }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claims.count == 200)
            #expect(Set(claims).count == 200, "a job was claimed twice")
        }
    }

    @Test func failuresBackOffThenDiscardAndCanBeRetriedByHand() async throws {
        try await withQueue { queue, client in
            let id = try await queue.enqueue(JobRequest(kind: "k", maxAttempts: 2))
            let first = try #require(try await claim(queue).first)
            let before = try await epochSeconds("SELECT extract(epoch FROM clock_timestamp())::float8", client)
            #expect(try await queue.fail(first, error: "HTTP 500 from api.example.com", retryAfter: .seconds(10)) == .retryable)
            let after = try await epochSeconds("SELECT extract(epoch FROM clock_timestamp())::float8", client)
            let runAt = try await epochSeconds("SELECT extract(epoch FROM run_at)::float8 FROM jobs WHERE id = \(id)", client)
            #expect(runAt >= before + 10 && runAt <= after + 10, "run_at must be the backoff after the failure, was \(runAt - before) s")
            try await client.query("UPDATE jobs SET run_at = now() WHERE id = \(id)", logger: logger)
            let second = try #require(try await claim(queue).first)
            #expect(second.attempt == 2)
            #expect(try await queue.fail(second, error: "HTTP 500 again", retryAfter: .seconds(10)) == .discarded)
            let discarded = try await queue.job(id)
            #expect(discarded.state == .discarded)
            guard case .array(let errors) = discarded.errors else { Issue.record("errors not an array"); return }
            #expect(errors.count == 2)
            #expect(errors.first?["error"] == "HTTP 500 from api.example.com")
            #expect(errors.first?["attempt"] == 1)

            try await queue.retry(id)
            let retried = try await queue.job(id)
            #expect(retried.state == .available)
            #expect(retried.maxAttempts == 4)
            await #expect(throws: HubError.self) { try await queue.retry(id) }
        }
    }

    @Test func snoozingAndReleasingUseNoAttempt() async throws {
        try await withQueue { queue, client in
            let id = try await queue.enqueue(JobRequest(kind: "k", maxAttempts: 3))
            let claimed = try #require(try await claim(queue).first)
            // Measured from a database timestamp taken before the snooze, so that a stall of
            // the (shared, loaded) machine between the calls cannot fail it.
            let before = try await epochSeconds("SELECT extract(epoch FROM clock_timestamp())::float8", client)
            #expect(try await queue.snooze(claimed, for: .seconds(30)))
            let snoozed = try await queue.job(id)
            #expect(snoozed.state == .scheduled)
            #expect(snoozed.maxAttempts - snoozed.attempt == 3, "the attempt budget is unchanged")
            let runAt = try await epochSeconds("SELECT extract(epoch FROM run_at)::float8 FROM jobs WHERE id = \(id)", client)
            #expect(runAt - before >= 30, "snoozed for 30 s from when it was asked")
            try await client.query("UPDATE jobs SET run_at = now() WHERE id = \(id)", logger: logger)
            let again = try #require(try await claim(queue).first)
            try await queue.release([again])
            let released = try await queue.job(id)
            #expect(released.state == .available)
            #expect(released.maxAttempts - released.attempt == 3)
        }
    }

    /// An API that answers 429 forever must not keep its job alive forever: each snooze grows
    /// the attempt budget, so age and a ceiling end it, with the reason recorded.
    @Test func snoozingAndReleasingStopAtTheCeiling() async throws {
        try await withQueue { queue, client in
            let old = try await queue.enqueue(JobRequest(kind: "k", maxAttempts: 3))
            let claimed = try #require(try await claim(queue).first)
            try await client.query("UPDATE jobs SET created_at = now() - interval '8 days' WHERE id = \(old)", logger: logger)
            #expect(try await queue.snooze(claimed, for: .seconds(1)))
            let discarded = try await queue.job(old)
            #expect(discarded.state == .discarded)
            #expect(discarded.maxAttempts == 3, "no new budget for an exhausted job")

            let busy = try await queue.enqueue(JobRequest(kind: "k", maxAttempts: 3))
            try await client.query("UPDATE jobs SET attempt = \(JobQueue.attemptCeiling - 1), max_attempts = \(JobQueue.attemptCeiling + 2) WHERE id = \(busy)",
                                   logger: logger)
            let last = try #require(try await claim(queue).first)
            #expect(last.attempt == JobQueue.attemptCeiling)
            try await queue.release([last])
            #expect(try await queue.job(busy).state == .discarded)
            let errors = try await epochSeconds("SELECT jsonb_array_length(errors)::float8 FROM jobs WHERE id = \(busy)", client)
            #expect(errors == 1)
        }
    }

    @Test func aStaleAttemptCanWriteNothing() async throws {
        try await withQueue { queue, client in
            let id = try await queue.enqueue(JobRequest(kind: "k"))
            let stale = try #require(try await claim(queue, lease: .milliseconds(200)).first)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await queue.rescueExpired() == [id])
            let fresh = try #require(try await claim(queue, owner: "successor").first)
            #expect(fresh.attempt == stale.attempt + 1)

            let staleContext = JobContext(job: stale, client: client, logger: logger)
            let error = await #expect(throws: HubError.self) {
                try await staleContext.withTransaction(completing: true) { connection in
                    try await connection.query("CREATE TABLE must_not_exist (id int)", logger: logger)
                }
            }
            #expect(error?.code == .conflict)
            #expect(try await queue.complete([stale]).isEmpty)
            #expect(try await queue.fail(stale, error: "late", retryAfter: .zero) == nil)
            #expect(try await queue.snooze(stale, for: .zero) == false)
            #expect(try await queue.heartbeat([stale], lease: .seconds(30)).isEmpty)

            let freshContext = JobContext(job: fresh, client: client, logger: logger)
            try await freshContext.withTransaction(completing: true) { _ in }
            #expect(try await queue.job(id).state == .completed)
            let rows = try await client.query("SELECT to_regclass('must_not_exist') IS NULL", logger: logger)
            for try await absent in rows.decode(Bool.self) { #expect(absent) }
        }
    }

    @Test func cancellingWaitingJobsAndPausingQueues() async throws {
        try await withQueue { queue, _ in
            let id = try await queue.enqueue(JobRequest(kind: "k"))
            #expect(try await queue.cancel(id) == .cancelled)
            await #expect(throws: HubError.self) { try await queue.cancel(id) }
            #expect(try await claim(queue).isEmpty)

            let other = try await queue.enqueue(JobRequest(kind: "k"))
            try await queue.setPaused(true, queue: "default")
            #expect(try await claim(queue).isEmpty)
            try await queue.setPaused(false, queue: "default")
            #expect(try await claim(queue).map(\.id) == [other])
        }
    }

    @Test func enqueueJoinsTheCallersTransaction() async throws {
        try await withQueue { queue, client in
            struct Rollback: Error {}
            try? await client.withTransaction(logger: logger) { connection in
                try await queue.enqueue(JobRequest(kind: "k"), on: connection)
                throw Rollback()
            }
            #expect(try await queue.list().isEmpty, "a rolled-back transaction leaves no job")
            _ = try await client.withTransaction(logger: logger) { connection in
                try await queue.enqueue(JobRequest(kind: "k"), on: connection)
            }
            #expect(try await queue.list().count == 1)
        }
    }

    /// Claims and heartbeats skip the WAL flush inside their own statement only: a pooled
    /// connection must go back durable, or the next handler's commit would not be.
    @Test func asyncCommitStaysInsideTheClaimStatement() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await PostgresClient.withRunning(url, maximumConnections: 1, logger: logger) { client in
            let queue = JobQueue(client: client, logger: logger)
            func setting(_ query: PostgresQuery) async throws -> String {
                for try await value in try await client.query(query, logger: logger).decode(String.self) { return value }
                return ""
            }
            // Test clusters run without fsync; make this session durable like a production one.
            try await client.query("SET synchronous_commit TO on", logger: logger)
            let inside = try await setting("SELECT current_setting('synchronous_commit') FROM (SELECT 1) AS x, \(unescaped: JobQueue.asyncCommit)")
            #expect(inside == "off")
            let after = try await setting("SHOW synchronous_commit")
            #expect(after == "on")

            _ = try await queue.enqueue(JobRequest(kind: "k"))
            let claimed = try await claim(queue)
            #expect(claimed.count == 1)
            #expect(try await setting("SHOW synchronous_commit") == "on", "the claim's setting leaked into the session")
            #expect(try await queue.heartbeat(claimed, lease: .seconds(30)).keys.sorted() == claimed.map(\.id))
            #expect(try await setting("SHOW synchronous_commit") == "on", "the heartbeat's setting leaked into the session")
        }
    }

    func epochSeconds(_ query: PostgresQuery, _ client: PostgresClient) async throws -> Double {
        for try await value in try await client.query(query, logger: logger).decode(Double.self) { return value }
        return .nan
    }
}
