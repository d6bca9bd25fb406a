import Foundation
import HubCore
import HubDatabase
import PostgresNIO

/// What an autoscaler needs of one queue: how much is waiting to run now, how long the oldest
/// of it has waited, and what runs. `ready` counts jobs a worker could claim this moment
/// (available, scheduled or retryable, due); jobs scheduled for later are not load yet.
public struct QueueLoad: Sendable, Equatable, Encodable {
    public let queue: String
    public let ready: Int
    public let running: Int
    /// Seconds since the oldest ready job became due; 0 when none is ready.
    public let oldestReadySeconds: Double
    public let paused: Bool

    enum CodingKeys: String, CodingKey {
        case queue, ready, running, paused
        case oldestReadySeconds = "oldest_ready_seconds"
    }
}

extension JobQueue {
    /// The load of every queue that has jobs to run or running, was ever paused or resumed, or
    /// is in `known` (so a worker pool's queues report 0 rather than vanish when idle: an
    /// autoscaler reads a missing series as "no data", not as "scale in"). One statement, over
    /// the claimable and running jobs only (both indexed), whatever the table's history.
    public func load(known: [String] = []) async throws -> [QueueLoad] {
        try await withDatabaseErrors("measuring queue load") {
            let rows = try await client.query(
                """
                WITH active AS (
                    SELECT queue,
                           count(*) FILTER (WHERE state <> 'running' AND run_at <= now())::int8 AS ready,
                           count(*) FILTER (WHERE state = 'running')::int8 AS running,
                           min(run_at) FILTER (WHERE state <> 'running' AND run_at <= now()) AS oldest
                    FROM jobs
                    WHERE state IN ('available', 'scheduled', 'retryable', 'running')
                    GROUP BY queue
                ), names AS (
                    SELECT queue AS name FROM active
                    UNION SELECT name FROM job_queues
                    UNION SELECT unnest(\(known)::text[])
                )
                SELECT names.name, COALESCE(active.ready, 0), COALESCE(active.running, 0),
                       COALESCE(EXTRACT(EPOCH FROM now() - active.oldest), 0)::float8, COALESCE(job_queues.paused, false)
                FROM names
                LEFT JOIN active ON active.queue = names.name
                LEFT JOIN job_queues ON job_queues.name = names.name
                ORDER BY names.name
                """,
                logger: logger
            )
            var result: [QueueLoad] = []
            for try await (queue, ready, running, oldest, paused) in rows.decode((String, Int, Int, Double, Bool).self) {
                result.append(QueueLoad(queue: queue, ready: ready, running: running, oldestReadySeconds: max(0, oldest), paused: paused))
            }
            return result
        }
    }
}
