import Foundation
import HubCore
import HubDatabase
import HubQueue
import HubStore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Tributary's side of `scripts/bench queue`, against a migrated database: batch enqueue,
/// draining 100,000 no-op jobs, enqueue-to-start latency at a steady rate, and the sync
/// queue's claim in turns between tenants (`FairClaimBenchmark`). Prints one
/// JSON line per figure, in the shape of the peer script's lines.
enum QueueBenchmark {
    static let logger: Logger = {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }()

    static func run(url: DatabaseURL, drainJobs: Int, latencySeconds: Double, rate: Double) async throws {
        try await PostgresClient.withRunning(url, maximumConnections: 24, logger: logger) { client in
            let queue = JobQueue(client: client, logger: logger)
            // BENCH_ONLY=latency measures the latency alone (for profiling that path).
            if ProcessInfo.processInfo.environment["BENCH_ONLY"] == "latency" {
                return try await latency(queue, client, rate: rate, seconds: latencySeconds)
            }
            if ProcessInfo.processInfo.environment["BENCH_ONLY"] == "enqueue" { return try await enqueueBatch(queue, client) }
            if ProcessInfo.processInfo.environment["BENCH_ONLY"] == "fair" { return try await FairClaimBenchmark.run(queue, client) }
            let drainOnly = ProcessInfo.processInfo.environment["BENCH_ONLY"] == "drain"
            if !drainOnly { try await enqueueBatch(queue, client) }
            var best: (jobsPerSecond: Double, settings: String)?
            // BENCH_DRAIN="POOLSxSLOTSxBATCH,..." tries other worker settings.
            var settings = [(1, 1000, 1000), (2, 1000, 1000), (4, 1000, 1000)]
            if let custom = ProcessInfo.processInfo.environment["BENCH_DRAIN"] {
                settings = custom.split(separator: ",").compactMap { item in
                    let parts = item.split(separator: "x").compactMap { Int($0) }
                    return parts.count == 3 ? (parts[0], parts[1], parts[2]) : nil
                }
            }
            for (pools, slots, batch) in settings {
                let rate = try await drain(queue, client, jobs: drainJobs, pools: pools, slots: slots, batch: batch)
                let settings = "\(pools) pools x \(slots) slots, claim batch \(batch)"
                emit(["what": "drain-try", "jobs": drainJobs, "settings": settings, "jobs_per_s": rate.rounded()])
                if rate > best?.jobsPerSecond ?? 0 { best = (rate, settings) }
            }
            if let best { emit(["what": "drain", "jobs": drainJobs, "settings": best.settings, "jobs_per_s": best.jobsPerSecond.rounded()]) }
            if drainOnly { return }
            try await latency(queue, client, rate: rate, seconds: latencySeconds)
            try await FairClaimBenchmark.run(queue, client)
        }
    }

    static func emit(_ fields: [String: Any]) {
        var object = fields
        object["tool"] = "tributary"
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    static func clear(_ client: PostgresClient) async throws {
        try await client.query("TRUNCATE jobs", logger: logger)
        try await client.query("CHECKPOINT", logger: logger)
    }

    /// 50,000 jobs in statements of 1,000, as the peer enqueues them; then in statements of
    /// 10,000, the size the queue is built for.
    static func enqueueBatch(_ queue: JobQueue, _ client: PostgresClient) async throws {
        for (what, size) in [("enqueue-batch", 1000), ("enqueue-batch-large", 10_000)] {
            try await clear(client)
            let total = 50_000
            let batch = (0..<size).map { _ in JobRequest(kind: "noop") }
            let start = ContinuousClock.now
            for _ in 0..<(total / size) { try await queue.enqueue(batch: batch) }
            let seconds = elapsed(since: start)
            emit(["what": what, "jobs": total, "batch": size, "seconds": seconds, "jobs_per_s": (Double(total) / seconds).rounded()])
        }
        for producers in [2, 4] {
            try await clear(client)
            let total = 50_000
            let batch = (0..<1000).map { _ in JobRequest(kind: "noop") }
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        for index in 0..<(total / 1000) where index % producers == producer { try await queue.enqueue(batch: batch) }
                    }
                }
                try await group.waitForAll()
            }
            let seconds = elapsed(since: start)
            emit(["what": "enqueue-batch-concurrent", "producers": producers, "jobs": total, "batch": 1000, "seconds": seconds,
                  "jobs_per_s": (Double(total) / seconds).rounded()])
        }
    }

    /// Pre-fills `jobs` no-op jobs, then times worker pools until every one is completed.
    static func drain(_ queue: JobQueue, _ client: PostgresClient, jobs: Int, pools count: Int, slots: Int, batch: Int) async throws -> Double {
        try await clear(client)
        for _ in 0..<(jobs / 10_000) { try await queue.enqueue(batch: (0..<10_000).map { _ in JobRequest(kind: "noop") }) }
        let pools = (0..<count).map { index in
            WorkerPool(
                client: client,
                configuration: WorkerConfiguration(
                    queues: [.init(name: "default", slots: slots, batch: batch)], owner: "bench-\(index)", pollInterval: .milliseconds(200),
                    completionBatch: batch, completionDelay: .milliseconds(2)
                ),
                handlers: ["noop": { _ in .completed }], logger: logger
            )
        }
        let start = ContinuousClock.now
        let seconds = try await withPools(pools) {
            while try await unfinished(client) > 0 { try await Task.sleep(for: .milliseconds(20)) }
            return elapsed(since: start)
        }
        return Double(jobs) / seconds
    }

    static func unfinished(_ client: PostgresClient) async throws -> Int {
        let rows = try await client.query(
            """
            SELECT (SELECT count(*) FROM jobs WHERE state IN ('available', 'scheduled', 'retryable'))
                 + (SELECT count(*) FROM jobs WHERE state = 'running')
            """,
            logger: logger
        )
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Enqueues single jobs at `rate` per second and measures each job's latency two ways:
    /// from its `created_at` (the database's clock as the enqueueing transaction began) to the
    /// start of its handler, which is how the peer's harness measures it (from `job.created`),
    /// and, stricter, from just before the enqueue call.
    static func latency(_ queue: JobQueue, _ client: PostgresClient, rate: Double, seconds: Double) async throws {
        try await clear(client)
        let total = Int(rate * seconds)
        // Per job: its start, in Unix seconds, and in ms since `origin` less the call's start.
        let starts = Mutex<[Int64: Double]>([:])
        let fromCall = Mutex<[Double]>([])
        let origin = ContinuousClock.now
        let pool = WorkerPool(
            client: client,
            configuration: WorkerConfiguration(queues: [.init(name: "latency", slots: 10, batch: 10)], owner: "bench-latency", pollInterval: .seconds(1)),
            handlers: [
                "lat": { context in
                    let now = Date().timeIntervalSince1970
                    let sent = context.job.args["t"]?.scalarText.flatMap(Double.init) ?? 0
                    let sinceCall = elapsed(since: origin) * 1000 - sent
                    starts.withLock { $0[context.job.id] = now }
                    fromCall.withLock { $0.append(sinceCall) }
                    return .completed
                }
            ],
            logger: logger
        )
        var commits: [Double] = []  // the enqueue call alone: its round trip and durable commit
        try await withPools([pool]) {
            try await Task.sleep(for: .seconds(1))  // the worker is listening
            let interval = 1 / rate
            let start = ContinuousClock.now
            for index in 0..<total {
                let target = start + .milliseconds(Int64(Double(index) * interval * 1000))
                if ContinuousClock.now < target { try await Task.sleep(until: target, clock: .continuous) }
                let sent = elapsed(since: origin) * 1000
                try await queue.enqueue(JobRequest(kind: "lat", queue: "latency", args: ["t": .number(sent)]))
                commits.append(elapsed(since: origin) * 1000 - sent)
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while starts.withLock({ $0.count }) < total, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        }
        var fromCreated: [Double] = []
        let started = starts.withLock { $0 }
        let rows = try await client.query("SELECT id, extract(epoch FROM created_at)::float8 FROM jobs WHERE queue = 'latency'", logger: logger)
        for try await (id, created) in rows.decode((Int64, Double).self) {
            if let start = started[id] { fromCreated.append((start - created) * 1000) }
        }
        let sorted = fromCreated.sorted(), strict = fromCall.withLock { $0 }.sorted(), calls = commits.sorted()
        emit([
            "what": "enqueue-to-start latency", "rate_per_s": rate, "jobs": sorted.count, "measured_from": "created_at",
            "p50_ms": percentile(sorted, 50), "p90_ms": percentile(sorted, 90), "p99_ms": percentile(sorted, 99), "max_ms": sorted.last ?? 0,
            "from_call_p50_ms": percentile(strict, 50), "from_call_p99_ms": percentile(strict, 99),
            "enqueue_call_p50_ms": percentile(calls, 50), "enqueue_call_p99_ms": percentile(calls, 99),
        ])
    }

    static func withPools<T>(_ pools: [WorkerPool], _ body: () async throws -> T) async throws -> T {
        let group = ServiceGroup(services: pools, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: T
            do {
                result = try await body()
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let k = Double(sorted.count - 1) * p / 100
        let low = Int(k)
        let high = min(low + 1, sorted.count - 1)
        return ((sorted[low] + (sorted[high] - sorted[low]) * (k - Double(low))) * 100).rounded() / 100
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Double {
        let duration = ContinuousClock.now - start
        return duration.inSeconds
    }
}
