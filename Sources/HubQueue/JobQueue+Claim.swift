import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// What workers do to jobs. Every write after the claim is fenced: it names the job, the
/// attempt and the lease owner, and changes nothing unless all three still hold.
extension JobQueue {
    /// Claims up to `limit` runnable jobs of `kinds` in `queue`, highest priority (lowest
    /// number) and oldest first, in one statement; jobs other workers are claiming are skipped.
    /// A `grouped` queue claims under a transaction-wide advisory lock so that group limits
    /// hold across workers.
    public func claim(
        queue: String, kinds: [String], limit: Int, owner: String, lease: Duration, grouped: Bool
    ) async throws -> [ClaimedJob] {
        let seconds = lease.inSeconds
        return try await withDatabaseErrors("claiming jobs of queue \(queue)") {
            guard grouped else {
                // One prepared statement, one round trip: the claim is the enqueue-to-start path.
                let statement = ClaimStatement(queue: queue, kinds: kinds, limit: limit, owner: owner, leaseSeconds: seconds)
                var jobs: [ClaimedJob] = []
                for try await (id, kind, args, attempt, maxAttempts) in try await client.execute(statement, logger: logger) {
                    jobs.append(Self.claimed(id: id, kind: kind, args: args, attempt: attempt, maxAttempts: maxAttempts, queue: queue, owner: owner))
                }
                return jobs
            }
            // Group limits count running jobs, so the count must be read after the lock is
            // held: the lock needs a statement (and snapshot) of its own, hence a transaction.
            return try await client.withGuardedTransaction(logger: logger) { connection in
                try await Self.skipWALFlush(connection, logger: logger)
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('tributary.claim.' || \(queue)))", logger: logger)
                return try await decodeClaimed(
                    connection.query(groupedClaim(queue, kinds, limit, owner, seconds), logger: logger), queue: queue, owner: owner
                )
            }
        }
    }

    /// Claims and lease renewals commit without waiting for the WAL flush (≈ 3.7 ms a commit
    /// on this machine). That is safe because of the fencing token: a claim lost in a database
    /// crash puts the job back to `available`, and the worker that started it can then write
    /// nothing (its fenced transaction, which is durable, finds the job no longer its own).
    /// Enqueues, completions and handlers' transactions stay durable.
    static func skipWALFlush(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SET LOCAL synchronous_commit TO off", logger: logger)
    }

    /// The same for a statement run on its own: `set_config(..., true)` lasts until the end
    /// of the statement's implicit transaction, and the commit reads it before it resets.
    /// Joined to the statement as a one-row source, so it is evaluated once.
    static let asyncCommit = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"

    /// Ranks candidates within their group and keeps, per group, only as many as its limit
    /// leaves room for next to what already runs.
    ///
    /// Candidates are taken in turns between tenants (a job's `args.tenant`; jobs without one
    /// share a turn), not oldest first: within a priority, each tenant's next job counts its
    /// tenant's running jobs plus its place in that tenant's line, divided by the tenant's
    /// weight (`job_shares`), lowest first. So a tenant that queues a thousand syncs delays
    /// another's by at most one turn, instead of by all thousand, and a weight-2 tenant takes
    /// two turns for one of a weight-1 tenant. A tenant at its `max_running` cap takes no turn,
    /// and within a claim gets only the room its cap leaves. The window reads every runnable job
    /// of the queue, which the grouped (sync) queue's long jobs and short lines afford
    /// (`scripts/bench queue` measures the claim against the backlog); the plain queues keep
    /// the indexed claim.
    private func groupedClaim(_ queue: String, _ kinds: [String], _ limit: Int, _ owner: String, _ seconds: Double) -> PostgresQuery {
        """
        WITH running AS (
            SELECT args->>'tenant' AS tenant, count(*) AS jobs FROM jobs
            WHERE queue = \(queue) AND state = 'running'
            GROUP BY 1
        ), lined AS (
            SELECT id, priority, run_at, args->>'tenant' AS tenant,
                   row_number() OVER (PARTITION BY args->>'tenant' ORDER BY priority, run_at, id) AS place
            FROM jobs
            WHERE queue = \(queue) AND state IN ('available', 'scheduled', 'retryable') AND run_at <= now()
              AND kind = ANY(\(kinds)) AND NOT EXISTS (SELECT 1 FROM job_queues q WHERE q.name = \(queue) AND q.paused)
        ), shared AS (
            SELECT l.id, l.priority, l.run_at, l.tenant, l.place, coalesce(r.jobs, 0) AS running,
                   coalesce(s.weight, d.weight, 1) AS weight, coalesce(s.max_running, d.max_running) AS max_running
            FROM lined l
            LEFT JOIN running r ON r.tenant IS NOT DISTINCT FROM l.tenant
            LEFT JOIN job_shares s ON s.queue = \(queue) AND s.share = l.tenant
            LEFT JOIN job_shares d ON d.queue = \(queue) AND d.share = \(QueueShare.defaultKey)
        ), seated AS (
            SELECT id, tenant, running, max_running,
                   row_number() OVER (ORDER BY priority, (place + running - 1)::float8 / weight, run_at, id) AS seat
            FROM shared
            WHERE max_running IS NULL OR running < max_running
        ), candidates AS (
            SELECT j.id, j.group_key, j.group_limit, s.seat, s.tenant, s.running, s.max_running FROM jobs j JOIN seated s ON s.id = j.id
            WHERE s.seat <= \(limit * 4)
            FOR UPDATE OF j SKIP LOCKED
        ), ranked AS (
            SELECT c.*, row_number() OVER (PARTITION BY c.group_key ORDER BY c.seat) AS rank
            FROM candidates c
        ), grouped AS (
            SELECT r.*, row_number() OVER (PARTITION BY r.tenant ORDER BY r.seat) AS turn FROM ranked r
            WHERE r.group_key IS NULL
               OR r.rank <= r.group_limit - (SELECT count(*) FROM jobs x WHERE x.group_key = r.group_key AND x.state = 'running')
        ), allowed AS (
            SELECT g.id FROM grouped g
            WHERE g.max_running IS NULL OR g.turn <= g.max_running - g.running
            ORDER BY g.seat
            LIMIT \(limit)
        )
        UPDATE jobs SET state = 'running', attempt = jobs.attempt + 1, lease_owner = \(owner),
            lease_expires_at = now() + make_interval(secs => \(seconds)), attempted_at = now()
        FROM allowed WHERE jobs.id = allowed.id
        RETURNING jobs.id, jobs.kind, jobs.args::text, jobs.attempt, jobs.max_attempts
        """
    }

    private func decodeClaimed(_ rows: PostgresRowSequence, queue: String, owner: String) async throws -> [ClaimedJob] {
        var jobs: [ClaimedJob] = []
        for try await (id, kind, args, attempt, maxAttempts) in rows.decode((Int64, String, String, Int, Int).self) {
            jobs.append(Self.claimed(id: id, kind: kind, args: args, attempt: attempt, maxAttempts: maxAttempts, queue: queue, owner: owner))
        }
        return jobs
    }

    private static func claimed(id: Int64, kind: String, args: String, attempt: Int, maxAttempts: Int, queue: String, owner: String) -> ClaimedJob {
        let decoded = (try? JSONDecoder().decode(JSONValue.self, from: Data(args.utf8))) ?? .object([:])
        return ClaimedJob(id: id, kind: kind, queue: queue, args: decoded, attempt: attempt, maxAttempts: maxAttempts, owner: owner)
    }

    /// Marks jobs completed, all in one statement; returns the ids whose attempt still held its
    /// lease (the others were taken over and are not touched).
    @discardableResult
    public func complete(_ jobs: [ClaimedJob]) async throws -> Set<Int64> {
        guard let owner = jobs.first?.owner else { return [] }
        return try await withDatabaseErrors("completing \(jobs.count) jobs") {
            let rows = try await client.query(
                """
                UPDATE jobs SET state = 'completed', finalized_at = now(), lease_owner = NULL, lease_expires_at = NULL
                FROM unnest(\(jobs.map(\.id))::int8[], \(jobs.map(\.attempt))::int4[]) AS u(id, attempt)
                WHERE jobs.id = u.id AND jobs.attempt = u.attempt AND jobs.state = 'running' AND jobs.lease_owner = \(owner)
                RETURNING jobs.id
                """,
                logger: logger
            )
            var done = Set<Int64>()
            for try await id in rows.decode(Int64.self) { done.insert(id) }
            return done
        }
    }

    /// Records a failed attempt: retryable after `delay`, or discarded once attempts run out
    /// (or at once, when the failure is `final`). Returns the new state, or nil when the
    /// attempt no longer held the lease.
    @discardableResult
    public func fail(_ job: ClaimedJob, error: String, retryAfter delay: Duration, final: Bool = false) async throws -> JobState? {
        let seconds = delay.inSeconds
        return try await withDatabaseErrors("recording the failure of job \(job.id)") {
            let rows = try await client.query(
                """
                UPDATE jobs SET
                    state = CASE WHEN attempt >= max_attempts OR \(final) THEN 'discarded' ELSE 'retryable' END,
                    run_at = CASE WHEN attempt >= max_attempts OR \(final) THEN run_at ELSE now() + make_interval(secs => \(seconds)) END,
                    finalized_at = CASE WHEN attempt >= max_attempts OR \(final) THEN now() END,
                    errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', now(), 'error', \(String(error.prefix(2000))))),
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(job.id) AND attempt = \(job.attempt) AND state = 'running' AND lease_owner = \(job.owner)
                RETURNING state
                """,
                logger: logger
            )
            for try await state in rows.decode(String.self) { return JobState(rawValue: state) }
            return nil
        }
    }

    /// The most attempts (fencing tokens) a job may reach however often it is snoozed or handed
    /// back: a snooze or release grows the budget by one, so without a ceiling an API answering
    /// 429 forever would keep its job alive forever.
    public static let attemptCeiling = 10_000
    /// The oldest a job may grow while being snoozed or handed back; older, it is discarded.
    public static let maximumAge: Duration = .seconds(7 * 24 * 3600)

    /// The SQL condition under which a snooze or release discards the job instead.
    private var exhausted: String {
        "(jobs.attempt >= \(Self.attemptCeiling) OR jobs.created_at < now() - interval '\(Self.maximumAge.components.seconds) seconds')"
    }

    /// The error recorded when a snooze or release finds the job exhausted.
    private var exhaustedError: String {
        "'\(Self.attemptCeiling) attempts or \(Self.maximumAge.components.seconds / 86_400) days reached while snoozed or handed back; "
            + "discarded (retry it by hand)'"
    }

    /// "Not now" (rate limited, say): runs again after `delay` without using up an attempt.
    /// The attempt counter still grows, since it is the fencing token; the budget grows with it,
    /// up to `attemptCeiling` and `maximumAge`, past which the job is discarded. Returns false
    /// when the attempt no longer held the lease.
    @discardableResult
    public func snooze(_ job: ClaimedJob, for delay: Duration) async throws -> Bool {
        let seconds = delay.inSeconds
        return try await fencedUpdate(
            job,
            """
            UPDATE jobs SET
                state = CASE WHEN \(unescaped: exhausted) THEN 'discarded' ELSE 'scheduled' END,
                run_at = CASE WHEN \(unescaped: exhausted) THEN run_at ELSE now() + make_interval(secs => \(seconds)) END,
                max_attempts = CASE WHEN \(unescaped: exhausted) THEN max_attempts ELSE max_attempts + 1 END,
                finalized_at = CASE WHEN \(unescaped: exhausted) THEN now() END,
                errors = CASE WHEN \(unescaped: exhausted) THEN errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', now(),
                    'error', \(unescaped: exhaustedError))) ELSE errors END,
                lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(job.id) AND attempt = \(job.attempt) AND state = 'running' AND lease_owner = \(job.owner)
            RETURNING id
            """
        )
    }

    /// Hands unfinished jobs back (graceful shutdown) without using up their attempts, within
    /// the same ceiling as `snooze`.
    public func release(_ jobs: [ClaimedJob]) async throws {
        guard let owner = jobs.first?.owner else { return }
        try await withDatabaseErrors("releasing \(jobs.count) jobs") {
            try await client.query(
                """
                WITH released AS (
                    UPDATE jobs SET
                        state = CASE WHEN \(unescaped: exhausted) THEN 'discarded' ELSE 'available' END,
                        run_at = now(),
                        max_attempts = CASE WHEN \(unescaped: exhausted) THEN max_attempts ELSE max_attempts + 1 END,
                        finalized_at = CASE WHEN \(unescaped: exhausted) THEN now() END,
                        errors = CASE WHEN \(unescaped: exhausted) THEN errors || jsonb_build_array(jsonb_build_object('attempt', jobs.attempt, 'at', now(),
                            'error', \(unescaped: exhaustedError))) ELSE errors END,
                        lease_owner = NULL, lease_expires_at = NULL
                    FROM unnest(\(jobs.map(\.id))::int8[], \(jobs.map(\.attempt))::int4[]) AS u(id, attempt)
                    WHERE jobs.id = u.id AND jobs.attempt = u.attempt AND jobs.state = 'running' AND jobs.lease_owner = \(owner)
                    RETURNING jobs.queue
                )
                SELECT pg_notify(\(Self.wakeChannel), queue) IS NULL FROM (SELECT DISTINCT queue FROM released) q
                """,
                logger: logger
            )
        }
    }

    /// Marks a running job cancelled (its handler stopped after a cancel request).
    @discardableResult
    public func markCancelled(_ job: ClaimedJob) async throws -> Bool {
        try await fencedUpdate(
            job,
            """
            UPDATE jobs SET state = 'cancelled', finalized_at = now(), lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(job.id) AND attempt = \(job.attempt) AND state = 'running' AND lease_owner = \(job.owner)
            RETURNING id
            """
        )
    }

    /// Extends the leases of `jobs`; returns, of those, the ids still held and whether each
    /// was asked to cancel. A job missing from the answer was taken over: stop working on it.
    public func heartbeat(_ jobs: [ClaimedJob], lease: Duration) async throws -> [Int64: Bool] {
        guard let owner = jobs.first?.owner else { return [:] }
        let seconds = lease.inSeconds
        return try await withDatabaseErrors("extending job leases") {
            let rows = try await client.query(
                """
                UPDATE jobs SET lease_expires_at = now() + make_interval(secs => \(seconds))
                FROM unnest(\(jobs.map(\.id))::int8[], \(jobs.map(\.attempt))::int4[]) AS u(id, attempt), \(unescaped: Self.asyncCommit)
                WHERE jobs.id = u.id AND jobs.attempt = u.attempt AND jobs.state = 'running' AND jobs.lease_owner = \(owner)
                RETURNING jobs.id, jobs.cancel_requested
                """,
                logger: logger
            )
            var held: [Int64: Bool] = [:]
            for try await (id, cancel) in rows.decode((Int64, Bool).self) { held[id] = cancel }
            return held
        }
    }

    /// Makes jobs whose lease expired (their worker died or stalled) runnable again, or
    /// discards them when that was their last attempt. Any worker may run it; returns the ids.
    ///
    /// A job row still locked by its stalled worker's open transaction is skipped, not waited
    /// for: PostgreSQL ends that transaction (`idle_in_transaction_session_timeout` on worker
    /// sessions) and a later rescue takes the job, while waiting would hold this worker's
    /// connection, and every other job's rescue, for as long as the stalled worker sleeps.
    @discardableResult
    public func rescueExpired() async throws -> [Int64] {
        try await withDatabaseErrors("rescuing jobs with expired leases") {
            let rows = try await client.query(
                """
                WITH expired AS (
                    SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < now()
                    FOR UPDATE SKIP LOCKED
                ), rescued AS (
                    UPDATE jobs SET
                        state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END,
                        run_at = now(),
                        finalized_at = CASE WHEN attempt >= max_attempts THEN now() END,
                        errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', now(),
                            'error', 'lease expired: worker ' || coalesce(lease_owner, '?') || ' stopped renewing it')),
                        lease_owner = NULL, lease_expires_at = NULL
                    FROM expired
                    WHERE jobs.id = expired.id
                    RETURNING jobs.id, jobs.queue
                )
                SELECT id, pg_notify(\(Self.wakeChannel), queue) IS NULL FROM rescued
                """,
                logger: logger
            )
            var ids: [Int64] = []
            for try await (id, _) in rows.decode((Int64, Bool).self) { ids.append(id) }
            return ids
        }
    }

    private func fencedUpdate(_ job: ClaimedJob, _ query: PostgresQuery) async throws -> Bool {
        try await withDatabaseErrors("updating job \(job.id)") {
            let rows = try await client.query(query, logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }
}
