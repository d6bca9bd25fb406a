import Foundation
import HubCore
import PostgresNIO

/// How long sync history is kept: `RetentionPolicy` runs this hourly.
extension RunStore {
    /// Retention: finished runs (with their partitions) that ended before `cutoff`, except each
    /// stream's latest run, which the API and CLI show as the stream's status.
    @discardableResult
    public func pruneRuns(finishedBefore cutoff: Date) async throws -> Int {
        try await Pruning.inBatches("pruning old sync runs", client: client, logger: logger) {
            """
            WITH gone AS (
                DELETE FROM sync_runs WHERE id IN (
                    SELECT r.id FROM sync_runs r
                    WHERE r.finished_at < \(cutoff) AND r.status IN ('succeeded', 'failed', 'cancelled')
                      AND EXISTS (SELECT 1 FROM sync_runs newer WHERE newer.connection_id = r.connection_id
                                    AND newer.stream = r.stream AND newer.id > r.id)
                    LIMIT \(Pruning.batchSize))
                RETURNING 1
            )
            SELECT count(*)::int8 FROM gone
            """
        }
    }
}
