import Foundation
import HubCore
import HubQueue
import PostgresNIO

/// The cost of taking turns between tenants. The sync queue's claim reads every waiting job
/// to seat them in turns (`JobQueue.groupedClaim`); the plain claim walks an index to the
/// first few. Both are measured on the same backlogs, and how long a late tenant's single sync
/// waits behind another's backlog, which is what the turns buy.
enum FairClaimBenchmark {
    /// A sync job lasts seconds to hours and each worker claims a few at a time, so a claim
    /// may cost far more than the plain queue's; this is the figure it must stay under with
    /// ten thousand syncs waiting.
    static let limitMillisecondsAt10k = 50.0

    static func run(_ queue: JobQueue, _ client: PostgresClient) async throws {
        for backlog in [1_000, 10_000, 50_000] {
            for grouped in [true, false] {
                let times = try await claimTimes(queue, client, backlog: backlog, grouped: grouped)
                QueueBenchmark.emit([
                    "what": grouped ? "fair claim" : "plain claim", "backlog": backlog, "tenants": 100, "claims": times.count, "batch": 4,
                    "p50_ms": QueueBenchmark.percentile(times, 50), "p99_ms": QueueBenchmark.percentile(times, 99),
                    "limit_p50_ms": backlog == 10_000 && grouped ? limitMillisecondsAt10k : NSNull(),
                ])
            }
        }
        try await lateTenant(queue, client)
    }

    /// `backlog` sync jobs, half of them one tenant's and the rest spread over 99 others; then
    /// 100 claims of 4, each batch completed before the next, as workers finishing syncs do.
    static func claimTimes(_ queue: JobQueue, _ client: PostgresClient, backlog: Int, grouped: Bool) async throws -> [Double] {
        try await QueueBenchmark.clear(client)
        let requests = (0..<backlog).map { index in
            let tenant = index % 2 == 0 ? "tenant-0" : "tenant-\(1 + index % 99)"
            return JobRequest(kind: "sync", queue: "sync", args: ["tenant": .string(tenant)])
        }
        for start in stride(from: 0, to: backlog, by: 10_000) {
            try await queue.enqueue(batch: Array(requests[start..<min(start + 10_000, backlog)]))
        }
        try await client.query("ANALYZE jobs", logger: QueueBenchmark.logger)
        var times: [Double] = []
        for _ in 0..<100 {
            let start = ContinuousClock.now
            let claimed = try await queue.claim(queue: "sync", kinds: ["sync"], limit: 4, owner: "bench", lease: .seconds(60), grouped: grouped)
            times.append(QueueBenchmark.elapsed(since: start) * 1000)
            guard claimed.count == 4 else { throw HubError(.internalError, "a claim over \(backlog) waiting jobs took \(claimed.count), not 4") }
            try await queue.complete(claimed)
        }
        return times.sorted()
    }

    /// One tenant has 10,000 syncs waiting; another then queues one. Counts the claims of 4
    /// until the late one starts: in turns, the next; oldest first, after all 10,000.
    static func lateTenant(_ queue: JobQueue, _ client: PostgresClient) async throws {
        for grouped in [true, false] {
            try await QueueBenchmark.clear(client)
            try await queue.enqueue(batch: (0..<10_000).map { _ in JobRequest(kind: "sync", queue: "sync", args: ["tenant": "big"]) })
            let late = try await queue.enqueue(JobRequest(kind: "sync", queue: "sync", args: ["tenant": "late"]))
            var claims = 0
            var started = false
            while !started, claims < 5_000 {
                let claimed = try await queue.claim(queue: "sync", kinds: ["sync"], limit: 4, owner: "bench", lease: .seconds(60), grouped: grouped)
                claims += 1
                started = claimed.contains { $0.id == late }
                try await queue.complete(claimed)
            }
            QueueBenchmark.emit(["what": grouped ? "fair late tenant" : "plain late tenant", "backlog": 10_000, "claims_until_started": claims])
        }
    }
}
