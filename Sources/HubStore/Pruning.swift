import HubDatabase
import Logging
import PostgresNIO

/// Retention deletes in short batches: one statement over a large, old table would hold its
/// locks and its WAL for as long as it runs, and stall the writes that share those rows.
enum Pruning {
    static let batchSize = 5_000

    /// Runs `statement` (which must act on at most `batchSize` rows and answer how many) until a
    /// batch comes back short; returns the total.
    static func inBatches(_ what: String, client: PostgresClient, logger: Logger,
                          _ statement: () -> PostgresQuery) async throws -> Int {
        var total = 0
        while true {
            let count = try await withDatabaseErrors(what) { () -> Int in
                for try await count in try await client.query(statement(), logger: logger).decode(Int.self) { return count }
                return 0
            }
            total += count
            if count < batchSize { return total }
            try Task.checkCancellation()
        }
    }
}
