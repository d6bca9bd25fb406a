import Foundation
import PostgresNIO

/// How long soft-deleted records stay: `RetentionPolicy` runs this hourly.
extension RecordWriter {
    /// Retention: records soft-deleted before `cutoff` are deleted for good (sealed fields and
    /// all), once clients reading the change feed have had that long to see the deletion.
    @discardableResult
    public func purgeDeleted(before cutoff: Date) async throws -> Int {
        try await Pruning.inBatches("purging deleted records", client: client, logger: logger) {
            """
            WITH gone AS (
                DELETE FROM records WHERE ctid = ANY (ARRAY(
                    SELECT ctid FROM records WHERE deleted_at < \(cutoff) LIMIT \(Pruning.batchSize)))
                RETURNING 1
            )
            SELECT count(*)::int8 FROM gone
            """
        }
    }
}
