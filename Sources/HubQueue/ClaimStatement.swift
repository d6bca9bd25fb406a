import PostgresNIO

/// The claim of an ungrouped queue as a named prepared statement. It is the hottest statement
/// of the queue, and planning it (a CTE with a locking scan, a join and a subquery) took
/// 0.9 ms against 0.2 ms to run; prepared once per connection, PostgreSQL settles on a
/// generic plan after a few executions and stops planning it at all.
///
/// The commit skips the WAL flush through `JobQueue.asyncCommit` (see `JobQueue.skipWALFlush`
/// for why that is safe).
struct ClaimStatement: PostgresPreparedStatement {
    static let name = "tributary_claim_v1"

    static let sql = """
        WITH next AS (
            SELECT id FROM jobs
            WHERE queue = $1 AND state IN ('available', 'scheduled', 'retryable') AND run_at <= now()
              AND kind = ANY($2) AND NOT EXISTS (SELECT 1 FROM job_queues q WHERE q.name = $1 AND q.paused)
            ORDER BY priority, run_at, id
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        UPDATE jobs SET state = 'running', attempt = jobs.attempt + 1, lease_owner = $4,
            lease_expires_at = now() + make_interval(secs => $5), attempted_at = now()
        FROM next, \(JobQueue.asyncCommit)
        WHERE jobs.id = next.id
        RETURNING jobs.id, jobs.kind, jobs.args::text, jobs.attempt, jobs.max_attempts
        """

    typealias Row = (Int64, String, String, Int, Int)

    var queue: String
    var kinds: [String]
    var limit: Int
    var owner: String
    var leaseSeconds: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(queue)
        bindings.append(kinds)
        bindings.append(limit)
        bindings.append(owner)
        bindings.append(leaseSeconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
