import Foundation
import HubCore
import HubDatabase
import PostgresNIO

/// A stream sync with one job per partition: the jobs each settle their partition, and the one
/// that settles the last closes the run, so the run stays open while any partition is unread.
extension RunStore {
    /// Records the run's partition jobs, in the transaction that enqueued them.
    public func addPartitions(on database: PostgresConnection, run: Int64, partitions: [(key: String, job: Int64)]) async throws {
        guard !partitions.isEmpty else { return }
        try await database.query(
            """
            INSERT INTO sync_run_partitions (run_id, partition, job_id)
            SELECT \(run), key, job FROM unnest(\(partitions.map(\.key))::text[], \(partitions.map(\.job))::int8[]) AS p (key, job)
            """,
            logger: logger
        )
    }

    /// Settles one partition in its job's transaction; the job that settles the last one closes
    /// the run, failed if any partition failed. Returns whether this call closed it.
    @discardableResult
    public func settlePartition(on database: PostgresConnection, run: Int64, partition: String, connection: UUID,
                                succeeded: Bool) async throws -> Bool {
        // Settlers queue on the run's row, so each one counts after every earlier one committed:
        // two jobs finishing at once can't both see the other still open.
        try await database.query("SELECT 1 FROM sync_runs WHERE id = \(run) FOR UPDATE", logger: logger)
        try await database.query(
            """
            UPDATE sync_run_partitions SET status = \(succeeded ? "succeeded" : "failed"), finished_at = now()
            WHERE run_id = \(run) AND partition = \(partition)
            """,
            logger: logger
        )
        let rows = try await database.query(
            """
            SELECT count(*) FILTER (WHERE status = 'queued')::int8, count(*) FILTER (WHERE status = 'failed')::int8
            FROM sync_run_partitions WHERE run_id = \(run)
            """,
            logger: logger
        )
        var open = 0, failed = 0
        for try await row in rows.decode((Int, Int).self) { (open, failed) = row }
        guard open == 0 else { return false }
        if failed == 0 {
            try await finishRun(on: database, run: run, connection: connection)
        } else {
            try await database.query("UPDATE sync_runs SET status = 'failed', finished_at = now() WHERE id = \(run)", logger: logger)
        }
        return true
    }

    /// A partition's job failed for the last time: the error goes on the run and the connection,
    /// and the partition is settled as failed (outside the job's transaction, which rolled back).
    public func failPartition(on database: PostgresConnection, run: Int64, partition: String, connection: UUID, error: JSONValue,
                              recordOnConnection: Bool = true) async throws {
        try await database.query("UPDATE sync_runs SET error = \(error.canonicalJSON)::jsonb WHERE id = \(run)", logger: logger)
        if recordOnConnection {
            try await ConnectionStore.recordFailure(on: database, connection: connection, error: error, logger: logger)
        }
        try await settlePartition(on: database, run: run, partition: partition, connection: connection, succeeded: false)
    }

    /// The stream's newest open run that still has partitions queued: the run, the job that
    /// started it, and the queued partitions' jobs (the caller asks the queue which are alive).
    public func openPartitionedRun(connection: UUID, stream: String) async throws -> (run: Int64, job: Int64, partitionJobs: [Int64])? {
        try await withDatabaseErrors("reading the open runs of stream \(stream)") {
            let rows = try await client.query(
                """
                SELECT r.id, r.job_id, array_agg(p.job_id) FROM sync_runs r
                JOIN sync_run_partitions p ON p.run_id = r.id AND p.status = 'queued'
                WHERE r.connection_id = \(connection) AND r.stream = \(stream) AND r.status IN ('queued', 'running')
                  AND r.job_id IS NOT NULL
                GROUP BY r.id ORDER BY r.id DESC LIMIT 1
                """,
                logger: logger
            )
            for try await row in rows.decode((Int64, Int64, [Int64]).self) { return (run: row.0, job: row.1, partitionJobs: row.2) }
            return nil
        }
    }
}
