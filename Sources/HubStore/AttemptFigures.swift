import Foundation

/// A run's attempts: how many wrote anything, and the figures of the last one (of each
/// partition's job, summed, for a run split by partition). A run retried after a failure
/// reads part of its stream twice, so its totals exceed what the final attempt read.
public struct AttemptFigures: Sendable, Equatable {
    public let count: Int
    public let lastRead: Int64
    public let lastWritten: Int64
    public let lastPages: Int64

    public init(count: Int, lastRead: Int64, lastWritten: Int64, lastPages: Int64) {
        self.count = count
        self.lastRead = lastRead
        self.lastWritten = lastWritten
        self.lastPages = lastPages
    }

    /// The select-list columns `join` provides, in `init`'s order.
    static let columns = "att.attempts, att.last_read, att.last_written, att.last_pages"

    /// A lateral join computing `columns` for the run aliased `run`.
    static func join(_ run: String) -> String {
        """
        LEFT JOIN LATERAL (
            SELECT count(*)::int8 AS attempts,
                   coalesce(sum(records_read) FILTER (WHERE latest), 0)::int8 AS last_read,
                   coalesce(sum(records_written) FILTER (WHERE latest), 0)::int8 AS last_written,
                   coalesce(sum(pages) FILTER (WHERE latest), 0)::int8 AS last_pages
            FROM (SELECT a.*, a.attempt = max(a.attempt) OVER (PARTITION BY a.job_id) AS latest
                  FROM sync_run_attempts a WHERE a.run_id = \(run).id) per_attempt
        ) att ON true
        """
    }
}
