import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// The runs of stream syncs (`sync_runs`, `sync_run_partitions`, `sync_run_attempts`): what
/// the CLI shows as progress and the API as sync history, and where a failure leaves its
/// error. Writes that must commit with a batch take the batch's connection.
public struct RunStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func createRun(tenant: TenantID, connection: UUID, stream: String, fullRefresh: Bool, jobID: Int64?) async throws -> Int64 {
        try await withDatabaseErrors("recording a sync run") {
            let rows = try await client.query(
                """
                INSERT INTO sync_runs (tenant_id, connection_id, stream, full_refresh, job_id)
                VALUES (\(tenant.rawValue), \(connection), \(stream), \(fullRefresh), \(jobID)) RETURNING id
                """,
                logger: logger
            )
            for try await id in rows.decode(Int64.self) { return id }
            throw HubError(.databaseError, "recording a sync run returned no id")
        }
    }

    public func attachJob(run: Int64, job: Int64) async throws {
        try await withDatabaseErrors("recording a sync run's job") {
            try await client.query("UPDATE sync_runs SET job_id = \(job) WHERE id = \(run)", logger: logger)
        }
    }

    /// Drops a run that never got a job of its own (its stream's sync was already queued).
    public func discardRun(_ run: Int64) async throws {
        try await withDatabaseErrors("discarding a sync run") {
            try await client.query("DELETE FROM sync_runs WHERE id = \(run) AND job_id IS NULL", logger: logger)
        }
    }

    /// Marks the run running. Counts carry over from earlier attempts: a retry resumes from the
    /// last committed state, so the run's totals are what all its attempts fetched and wrote.
    /// On the caller's connection: the job's fenced transaction, so an attempt that lost its
    /// lease cannot reopen a run another attempt has finished.
    public func startRun(on database: PostgresConnection, _ run: Int64) async throws {
        try await database.query(
            """
            UPDATE sync_runs SET status = 'running', started_at = COALESCE(started_at, now()), finished_at = NULL, error = NULL
            WHERE id = \(run)
            """,
            logger: logger
        )
    }

    /// Adds a committed batch's counts to the run and to the attempt that read it (`job` and
    /// `attempt`), on the batch's connection, in one statement.
    public func addProgress(on database: PostgresConnection, run: Int64, job: Int64, attempt: Int,
                            read: Int, written: Int, pages: Int) async throws {
        try await database.query(
            """
            WITH attempt AS (
                INSERT INTO sync_run_attempts (run_id, job_id, attempt, records_read, records_written, pages)
                VALUES (\(run), \(job), \(attempt), \(read), \(written), \(pages))
                ON CONFLICT (run_id, job_id, attempt) DO UPDATE SET
                    records_read = sync_run_attempts.records_read + EXCLUDED.records_read,
                    records_written = sync_run_attempts.records_written + EXCLUDED.records_written,
                    pages = sync_run_attempts.pages + EXCLUDED.pages, updated_at = now()
            )
            UPDATE sync_runs SET records_read = records_read + \(read), records_written = records_written + \(written),
                pages = pages + \(pages)
            WHERE id = \(run)
            """,
            logger: logger
        )
    }

    /// Records how many records a complete full-refresh pass marked deleted.
    public func recordDeleted(on database: PostgresConnection, run: Int64, count: Int) async throws {
        try await database.query("UPDATE sync_runs SET records_deleted = \(count) WHERE id = \(run)", logger: logger)
    }

    public func finishRun(on database: PostgresConnection, run: Int64, connection: UUID) async throws {
        try await database.query(
            "UPDATE sync_runs SET status = 'succeeded', finished_at = now(), error = NULL WHERE id = \(run)", logger: logger
        )
        try await ConnectionStore.recordSuccess(on: database, connection: connection, logger: logger)
    }

    /// Leaves the failure on the run and the connection, in a fenced transaction of its own
    /// (the job's work transaction is rolling back): a stale attempt's failure is not recorded
    /// over a later attempt's outcome.
    public func failRun(on database: PostgresConnection, _ run: Int64, connection: UUID, error: JSONValue, final: Bool) async throws {
        try await database.query(
            """
            UPDATE sync_runs SET status = \((final ? RunStatus.failed : .running).rawValue), error = \(error.canonicalJSON)::jsonb,
                finished_at = CASE WHEN \(final) THEN now() ELSE NULL END
            WHERE id = \(run)
            """,
            logger: logger
        )
        try await ConnectionStore.recordFailure(on: database, connection: connection, error: error, logger: logger)
    }

    /// A run whose job was cancelled on request: it ends `cancelled`, and the connection keeps
    /// no error for it. In the job's fenced transaction.
    public func cancelRun(on database: PostgresConnection, _ run: Int64) async throws {
        try await database.query(
            """
            UPDATE sync_runs SET status = 'cancelled', finished_at = now(),
                error = '{"message": "cancelled on request"}'::jsonb
            WHERE id = \(run) AND status IN ('queued', 'running')
            """,
            logger: logger
        )
    }

    public struct Run: Sendable {
        public let id: Int64
        public let stream: String
        public let status: RunStatus
        public let recordsRead: Int64
        public let recordsWritten: Int64
        public let recordsDeleted: Int64
        public let pages: Int64
        public let error: String?
        public let jobID: Int64?
        /// For a run with one job per partition: how many partitions, and how many are settled.
        public let partitions: Int
        public let partitionsSettled: Int
        /// What the attempts that wrote anything did; the totals above add them all together.
        public let attempts: AttemptFigures
    }

    public func runs(ids: [Int64]) async throws -> [Run] {
        try await withDatabaseErrors("reading sync runs") {
            let rows = try await client.query(
                """
                SELECT r.id, r.stream, r.status, r.records_read, r.records_written, r.records_deleted, r.pages, r.error::text,
                       r.job_id, count(p.partition)::int8, count(p.partition) FILTER (WHERE p.status <> 'queued')::int8,
                       \(unescaped: AttemptFigures.columns)
                FROM sync_runs r LEFT JOIN sync_run_partitions p ON p.run_id = r.id
                \(unescaped: AttemptFigures.join("r"))
                WHERE r.id = ANY(\(ids)) GROUP BY r.id, \(unescaped: AttemptFigures.columns) ORDER BY r.id
                """,
                logger: logger
            )
            var result: [Run] = []
            for try await row in rows.decode((Int64, String, String, Int64, Int64, Int64, Int64, String?, Int64?, Int, Int,
                                              Int, Int64, Int64, Int64).self) {
                result.append(Run(id: row.0, stream: row.1, status: try RunStatus.stored(row.2, in: "sync run \(row.0)"), recordsRead: row.3, recordsWritten: row.4,
                                  recordsDeleted: row.5, pages: row.6, error: row.7, jobID: row.8,
                                  partitions: row.9, partitionsSettled: row.10,
                                  attempts: AttemptFigures(count: row.11, lastRead: row.12, lastWritten: row.13, lastPages: row.14)))
            }
            return result
        }
    }
}

extension RunStore {
    /// A connection's sync runs, newest first: the latest per stream (`latestPerStream`) or all.
    public func runs(connection: UUID, tenant: TenantID, latestPerStream: Bool, limit: Int = 100, before: Int64? = nil) async throws -> [RunSummary] {
        try await withDatabaseErrors("listing sync runs") {
            let rows = try await client.query(
                """
                SELECT id, stream, status, full_refresh, records_read, records_written, records_deleted, pages, error::text,
                       job_id, created_at, started_at, finished_at,
                       (SELECT count(*) FROM sync_run_partitions p WHERE p.run_id = runs.id)::int8,
                       (SELECT count(*) FROM sync_run_partitions p WHERE p.run_id = runs.id AND p.status <> 'queued')::int8,
                       \(unescaped: AttemptFigures.columns)
                FROM (
                    SELECT *, row_number() OVER (PARTITION BY stream ORDER BY id DESC) AS rank FROM sync_runs
                    WHERE connection_id = \(connection) AND tenant_id = \(tenant.rawValue)
                ) runs
                \(unescaped: AttemptFigures.join("runs"))
                WHERE (NOT \(latestPerStream) OR rank = 1) AND (\(before)::bigint IS NULL OR id < \(before))
                ORDER BY id DESC LIMIT \(limit)
                """,
                logger: logger
            )
            var result: [RunSummary] = []
            for try await row in rows.decode((Int64, String, String, Bool, Int64, Int64, Int64, Int64, String?, Int64?, Date, Date?, Date?,
                                              Int, Int, Int, Int64, Int64, Int64).self) {
                result.append(RunSummary(id: row.0, stream: row.1, status: try RunStatus.stored(row.2, in: "sync run \(row.0)"), fullRefresh: row.3, recordsRead: row.4,
                                         recordsWritten: row.5, recordsDeleted: row.6, pages: row.7, error: row.8, jobID: row.9,
                                         createdAt: row.10, startedAt: row.11, finishedAt: row.12,
                                         partitions: row.13, partitionsSettled: row.14,
                                         attempts: AttemptFigures(count: row.15, lastRead: row.16, lastWritten: row.17, lastPages: row.18)))
            }
            return result
        }
    }

    public struct RunSummary: Sendable {
        public let id: Int64
        public let stream: String
        public let status: RunStatus
        public let fullRefresh: Bool
        public let recordsRead: Int64
        public let recordsWritten: Int64
        public let recordsDeleted: Int64
        public let pages: Int64
        public let error: String?
        public let jobID: Int64?
        public let createdAt: Date
        public let startedAt: Date?
        public let finishedAt: Date?
        /// For a run with one job per partition: how many partitions, and how many are settled.
        public let partitions: Int
        public let partitionsSettled: Int
        /// What the attempts that wrote anything did; the totals above add them all together.
        public let attempts: AttemptFigures
    }
}

extension RunStore {
    /// Sync runs by connector and outcome, and webhook events by connector and status, across
    /// every tenant: what `/metrics` reports (no tenant or connection ids).
    public func outcomeCounts() async throws -> (runs: [(connector: String, status: String, count: Int)],
                                                 webhooks: [(connector: String, status: String, count: Int)]) {
        try await withDatabaseErrors("counting sync runs") {
            var runs: [(connector: String, status: String, count: Int)] = []
            let runRows = try await client.query(
                """
                SELECT c.connector_name, r.status, count(*)::int8 FROM sync_runs r JOIN connections c ON c.id = r.connection_id
                GROUP BY 1, 2 ORDER BY 1, 2
                """, logger: logger)
            for try await row in runRows.decode((String, String, Int).self) { runs.append(row) }
            var webhooks: [(connector: String, status: String, count: Int)] = []
            let webhookRows = try await client.query(
                """
                SELECT c.connector_name, w.status, count(*)::int8 FROM webhook_events w JOIN connections c ON c.id = w.connection_id
                GROUP BY 1, 2 ORDER BY 1, 2
                """, logger: logger)
            for try await row in webhookRows.decode((String, String, Int).self) { webhooks.append(row) }
            return (runs, webhooks)
        }
    }
}
