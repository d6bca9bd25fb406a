import HubCore
import HubDatabase
import PostgresNIO

/// Reading and setting tenants' shares of a grouped queue (`QueueShare`).
extension JobQueue {
    /// The share stored for `key` in `queue` (all nil when none is).
    public func share(queue: String, key: String) async throws -> QueueShare {
        try await withDatabaseErrors("reading the share of \(key) in queue \(queue)") {
            let rows = try await client.query(
                "SELECT weight, max_running FROM job_shares WHERE queue = \(queue) AND share = \(key)", logger: logger
            )
            for try await (weight, maxRunning) in rows.decode((Int?, Int?).self) {
                return QueueShare(weight: weight, maxRunning: maxRunning)
            }
            return QueueShare()
        }
    }

    /// Stores `share` for `key` in `queue`, replacing what was there; a share that inherits
    /// everything removes the row.
    public func setShare(_ share: QueueShare, queue: String, key: String) async throws {
        try share.validate()
        try await withDatabaseErrors("setting the share of \(key) in queue \(queue)") {
            if share.inheritsEverything {
                try await client.query("DELETE FROM job_shares WHERE queue = \(queue) AND share = \(key)", logger: logger)
                return
            }
            try await client.query(
                """
                INSERT INTO job_shares (queue, share, weight, max_running) VALUES (\(queue), \(key), \(share.weight), \(share.maxRunning))
                ON CONFLICT (queue, share) DO UPDATE SET weight = excluded.weight, max_running = excluded.max_running, updated_at = now()
                """,
                logger: logger
            )
        }
    }

    /// Removes every share `key` holds, in every queue (its tenant is gone).
    public func removeShares(key: String) async throws {
        try await withDatabaseErrors("removing the shares of \(key)") {
            try await client.query("DELETE FROM job_shares WHERE share = \(key)", logger: logger)
        }
    }
}
