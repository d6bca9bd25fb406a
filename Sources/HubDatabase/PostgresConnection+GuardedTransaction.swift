import Logging
import PostgresNIO

/// Why a guarded transaction failed: at `BEGIN`, in its body, or at `COMMIT` (with the
/// rollback's own failure, if the rollback was sent and failed).
public struct TransactionFailure: Error {
    public var beginError: (any Error)?
    public var closureError: (any Error)?
    public var commitError: (any Error)?
    public var rollbackError: (any Error)?
}

extension PostgresConnection {
    /// postgres-nio's `withTransaction`, except that it never writes to a closed connection.
    ///
    /// A query written to a connection that has already closed never completes in
    /// postgres-nio 1.33 (nothing fails its promise, and it ignores cancellation). The
    /// driver's own transaction sends `ROLLBACK` after its body failed, and a body fails
    /// precisely when the server went away (a restart, a failover): the rollback then hung the
    /// job for good while its heartbeat kept renewing the lease, so no other worker could take
    /// it over (`scripts/cluster-test` caught it, restarting PostgreSQL mid-sync). The server
    /// ends a transaction with its session, so on a closed connection there is nothing to roll
    /// back; `BEGIN` and `COMMIT` are not sent to a closed connection either.
    public func withGuardedTransaction<Result>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            try ensureOpen()
            try await query("BEGIN;", logger: logger)
        } catch {
            throw TransactionFailure(beginError: error)
        }
        var bodyFinished = false
        do {
            let value = try await body(self)
            bodyFinished = true
            try ensureOpen()
            try await query("COMMIT;", logger: logger)
            return value
        } catch {
            guard !bodyFinished else { throw TransactionFailure(commitError: error) }
            var failure = TransactionFailure(closureError: error)
            if !isClosed {
                do { try await query("ROLLBACK;", logger: logger) } catch { failure.rollbackError = error }
            }
            throw failure
        }
    }
}

extension PostgresClient {
    /// `withGuardedTransaction` on a connection leased from the pool for its duration.
    public func withGuardedTransaction<Result>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withConnection(isolation: isolation) { connection in
            try await connection.withGuardedTransaction(logger: logger, isolation: isolation, body)
        }
    }
}
