import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// The Postgres job queue: enqueue, inspect, cancel, retry, pause. Workers claim through
/// `JobQueue+Claim`.
public struct JobQueue: Sendable {
    /// NOTIFY channel a worker listens on; the payload is the queue name.
    public static let wakeChannel = "tributary_jobs"
    /// NOTIFY channel for cancellation of running jobs; the payload is the job id.
    public static let cancelChannel = "tributary_job_cancel"

    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Enqueues one job and returns its id; with a unique key already active, returns that
    /// job's id instead and adds nothing.
    @discardableResult
    public func enqueue(_ request: JobRequest) async throws -> Int64 {
        try await withDatabaseErrors("enqueueing a \(request.kind) job") {
            try await client.withConnection { connection in try await enqueue(request, on: connection) }
        }
    }

    /// Enqueues inside the caller's transaction on `connection`: the job exists if and only if
    /// that transaction commits, and workers are woken only then.
    @discardableResult
    public func enqueue(_ request: JobRequest, on connection: PostgresConnection) async throws -> Int64 {
        try request.validate()
        for _ in 0..<5 {
            for try await (id, _) in try await connection.execute(EnqueueStatement(request: request), logger: logger) { return id }
            // A duplicate of an active job: hand back that job, unless it just finished.
            let existing = try await connection.query(
                """
                SELECT id FROM jobs WHERE unique_key = \(request.uniqueKey)
                  AND state IN ('available', 'scheduled', 'running', 'retryable')
                """,
                logger: logger
            )
            for try await id in existing.decode(Int64.self) { return id }
        }
        throw HubError(.conflict, "job with unique key \(request.uniqueKey ?? "") kept changing state; try again")
    }

    /// Enqueues many jobs in one statement; jobs whose unique key is active already are
    /// skipped. Returns how many were added.
    @discardableResult
    public func enqueue(batch requests: [JobRequest]) async throws -> Int {
        guard !requests.isEmpty else { return 0 }
        for request in requests { try request.validate() }
        // The common bulk case, jobs to run now with no unique key, goes through COPY.
        if requests.allSatisfy({ $0.uniqueKey == nil && $0.runAt == nil }) { return try await copy(requests) }
        // Arrays of non-optional values: PostgresNIO binds no arrays of optionals, so absent
        // values travel as '' or 0 and become NULL in SQL.
        let runAts = requests.map { $0.runAt.map { ISO8601DateFormatter.fractional.string(from: $0) } ?? "" }
        return try await withDatabaseErrors("enqueueing \(requests.count) jobs") {
            let rows = try await client.query(
                """
                WITH inserted AS (
                    INSERT INTO jobs (kind, queue, args, priority, run_at, max_attempts, unique_key, group_key, group_limit, state)
                    SELECT r.kind, r.queue, r.args::jsonb, r.priority, COALESCE(NULLIF(r.run_at, '')::timestamptz, now()),
                           r.max_attempts, NULLIF(r.unique_key, ''), NULLIF(r.group_key, ''), NULLIF(r.group_limit, 0),
                           CASE WHEN NULLIF(r.run_at, '')::timestamptz > now() THEN 'scheduled' ELSE 'available' END
                    FROM unnest(\(requests.map(\.kind))::text[], \(requests.map(\.queue))::text[],
                                \(requests.map(\.args.canonicalJSON))::text[], \(requests.map(\.priority))::int2[],
                                \(runAts)::text[], \(requests.map(\.maxAttempts))::int4[],
                                \(requests.map { $0.uniqueKey ?? "" })::text[], \(requests.map { $0.groupKey ?? "" })::text[],
                                \(requests.map { $0.groupLimit ?? 0 })::int4[])
                         AS r(kind, queue, args, priority, run_at, max_attempts, unique_key, group_key, group_limit)
                    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
                        AND state IN ('available', 'scheduled', 'running', 'retryable') DO NOTHING
                    RETURNING queue
                ), counted AS (
                    SELECT queue, count(*) AS n FROM inserted GROUP BY queue
                )
                SELECT n::int8, pg_notify(\(Self.wakeChannel), queue) IS NULL FROM counted
                """,
                logger: logger
            )
            var total = 0
            for try await (count, _) in rows.decode((Int, Bool).self) { total += count }
            return total
        }
    }

    /// Cancels a job: one waiting to run is cancelled at once; a running one is asked to stop
    /// (its worker hears it at once through NOTIFY, or at its next heartbeat) and is marked
    /// cancelled when it does. Returns the state after the request.
    @discardableResult
    public func cancel(_ id: Int64) async throws -> JobState {
        try await withDatabaseErrors("cancelling job \(id)") {
            let rows = try await client.query(
                """
                UPDATE jobs SET
                    state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                    cancel_requested = (state = 'running'),
                    finalized_at = CASE WHEN state = 'running' THEN NULL ELSE now() END
                WHERE id = \(id) AND state IN ('available', 'scheduled', 'retryable', 'running')
                RETURNING state, CASE WHEN state = 'running' THEN pg_notify(\(Self.cancelChannel), id::text) END IS NULL
                """,
                logger: logger
            )
            for try await (state, _) in rows.decode((String, Bool).self) { return JobState(rawValue: state) ?? .cancelled }
            let job = try await self.job(id)
            throw HubError(.conflict, "job \(id) is \(job.state.rawValue); only waiting or running jobs can be cancelled")
        }
    }

    /// Runs a discarded, cancelled or completed job again, with a fresh attempt budget.
    public func retry(_ id: Int64) async throws {
        try await withDatabaseErrors("retrying job \(id)") {
            let rows = try await client.query(
                """
                UPDATE jobs SET state = 'available', run_at = now(), max_attempts = attempt + max_attempts,
                    cancel_requested = false, finalized_at = NULL
                WHERE id = \(id) AND state IN ('discarded', 'cancelled', 'completed')
                RETURNING pg_notify(\(Self.wakeChannel), queue) IS NULL
                """,
                logger: logger
            )
            for try await _ in rows { return }
            let job = try await self.job(id)
            throw HubError(.conflict, "job \(id) is \(job.state.rawValue); only discarded, cancelled or completed jobs can be retried")
        }
    }

    public func setPaused(_ paused: Bool, queue: String) async throws {
        try await withDatabaseErrors("\(paused ? "pausing" : "resuming") queue \(queue)") {
            try await client.query(
                """
                INSERT INTO job_queues (name, paused) VALUES (\(queue), \(paused))
                ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = now()
                """,
                logger: logger
            )
            if !paused { try await client.query("SELECT pg_notify(\(Self.wakeChannel), \(queue))", logger: logger) }
        }
    }

    /// Deletes finished jobs finalized before `cutoff`; returns how many.
    @discardableResult
    public func prune(finalizedBefore cutoff: Date) async throws -> Int {
        try await withDatabaseErrors("pruning finished jobs") {
            let rows = try await client.query(
                """
                WITH gone AS (
                    DELETE FROM jobs WHERE finalized_at < \(cutoff) AND state IN ('completed', 'cancelled', 'discarded')
                    RETURNING 1
                ), periods AS (
                    -- A period's row only guards against enqueueing it twice, which an old one can't be.
                    DELETE FROM periodic_runs WHERE period_start < \(cutoff)
                )
                SELECT count(*)::int8 FROM gone
                """,
                logger: logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with fractional seconds, the form PostgreSQL parses as timestamptz.
    static var fractional: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
