import Foundation
import HubCore
import HubDatabase
import PostgresNIO

/// Reading jobs back, for operators (`tributary jobs list|show`) and tests.
extension JobQueue {
    public func job(_ id: Int64) async throws -> JobRecord {
        let jobs = try await select("WHERE id = \(id)", limit: 1)
        guard let job = jobs.first else { throw HubError(.notFound, "job \(id) not found") }
        return job
    }

    /// Newest first, optionally of one state and queue.
    public func list(state: JobState? = nil, queue: String? = nil, limit: Int = 50, before: Int64? = nil) async throws -> [JobRecord] {
        try await select(
            """
            WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
              AND (\(queue)::text IS NULL OR queue = \(queue))
              AND (\(before)::int8 IS NULL OR id < \(before))
            """,
            limit: limit
        )
    }

    /// How many of these jobs are still to run or running (not completed, discarded or cancelled).
    public func activeCount(_ ids: [Int64]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await withDatabaseErrors("counting active jobs") {
            let rows = try await client.query(
                "SELECT count(*)::int8 FROM jobs WHERE id = ANY(\(ids)) AND state IN ('available', 'scheduled', 'running', 'retryable')",
                logger: logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// How many jobs are in each state, per queue: the queue depth operators watch.
    public func depth() async throws -> [(queue: String, state: JobState, count: Int)] {
        try await withDatabaseErrors("counting jobs") {
            let rows = try await client.query("SELECT queue, state, count(*)::int8 FROM jobs GROUP BY queue, state ORDER BY queue, state", logger: logger)
            var result: [(queue: String, state: JobState, count: Int)] = []
            for try await (queue, state, count) in rows.decode((String, String, Int).self) {
                if let state = JobState(rawValue: state) { result.append((queue, state, count)) }
            }
            return result
        }
    }

    private func select(_ filter: PostgresQuery, limit: Int) async throws -> [JobRecord] {
        var query: PostgresQuery = """
            SELECT id, kind, queue, args::text, priority, state, attempt, max_attempts, run_at, lease_owner, unique_key,
                   group_key, errors::text, created_at, finalized_at, progress::text
            FROM jobs
            """
        query.sql += " " + filter.sql + " ORDER BY id DESC LIMIT \(max(1, min(limit, 10_000)))"
        query.binds = filter.binds
        return try await withDatabaseErrors("reading jobs") {
            var jobs: [JobRecord] = []
            let rows = try await client.query(query, logger: logger)
            typealias Row = (Int64, String, String, String, Int, String, Int, Int, Date, String?, String?, String?, String, Date, Date?, String?)
            for try await row in rows.decode(Row.self) {
                let decode = { (text: String) in (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null }
                jobs.append(
                    JobRecord(
                        id: row.0, kind: row.1, queue: row.2, args: decode(row.3), priority: row.4,
                        state: JobState(rawValue: row.5) ?? .available, attempt: row.6, maxAttempts: row.7, runAt: row.8,
                        leaseOwner: row.9, uniqueKey: row.10, groupKey: row.11, errors: decode(row.12), createdAt: row.13,
                        finalizedAt: row.14, progress: row.15.map(decode) ?? .null
                    )
                )
            }
            return jobs
        }
    }
}
