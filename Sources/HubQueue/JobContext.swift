import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO
import Synchronization

/// What a handler gets with its job: the job, a logger with the job's ids, cancellation,
/// and transactions fenced by the job's attempt.
public final class JobContext: Sendable {
    public let job: ClaimedJob
    public let logger: Logger
    let client: PostgresClient
    private let state = Mutex(State())

    private struct State {
        var cancelReason: CancelReason?
        var completedInTransaction = false
        /// The worker's wait for a cancellation, resumed by `cancel(_:)`.
        var cancelWaiter: CheckedContinuation<Void, Never>?
        var waitAbandoned = false
    }

    enum CancelReason: Sendable {
        /// Someone asked (`jobs cancel`): the job ends `cancelled`.
        case requested
        /// The lease went to another worker: nothing more may be written.
        case leaseLost
        /// This worker is shutting down: the job is handed back.
        case shutdown
    }

    init(job: ClaimedJob, client: PostgresClient, logger: Logger) {
        self.job = job
        self.client = client
        var logger = logger
        logger[metadataKey: "hub.job.id"] = "\(job.id)"
        logger[metadataKey: "hub.job.kind"] = "\(job.kind)"
        logger[metadataKey: "hub.job.attempt"] = "\(job.attempt)"
        self.logger = logger
    }

    /// True once the job should stop: cancelled, taken over, or the worker is shutting down.
    public var isCancelled: Bool { state.withLock { $0.cancelReason != nil } }

    /// True when someone asked to cancel the job (not a lost lease or a shutdown, after which
    /// the job runs again elsewhere): the handler's work ends here for good.
    public var isCancellationRequested: Bool { state.withLock { $0.cancelReason == .requested } }

    /// Throws `CancellationError` when the job should stop; long handlers call it between steps.
    public func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
        try Task.checkCancellation()
    }

    var cancelReason: CancelReason? { state.withLock { $0.cancelReason } }
    var completedInTransaction: Bool { state.withLock { $0.completedInTransaction } }

    func cancel(_ reason: CancelReason) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.cancelReason == nil { state.cancelReason = reason }
            defer { state.cancelWaiter = nil }
            return state.cancelWaiter
        }
        waiter?.resume()
    }

    /// Returns once the job is cancelled for any reason, or when the calling task is cancelled
    /// (the job finished first). One caller at a time: the worker running the job.
    func waitUntilCancelled() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.cancelReason != nil || state.waitAbandoned { return true }
                    state.cancelWaiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.waitAbandoned = true
                defer { state.cancelWaiter = nil }
                return state.cancelWaiter
            }
            waiter?.resume()
        }
    }

    /// Runs `body` in a transaction that first checks (and key-share-locks) this attempt's hold
    /// on the job: a takeover (the rescue's `FOR UPDATE`) cannot take the job while the
    /// transaction is open, and one job's own transactions may run side by side: if another
    /// worker took the job over, nothing `body` wrote is committed and
    /// `HubError.Code.conflict` is thrown. `FOR KEY SHARE`, not `FOR SHARE`: heartbeats update
    /// the row too, and must not wait for any of the worker's transactions to commit, or one
    /// slow batch lets every other job's lease lapse. With `completing`, the job is marked completed in the
    /// same transaction, so the work and its completion commit together: exactly once.
    @discardableResult
    public func withTransaction<T: Sendable>(
        completing: Bool = false, isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let job = self.job
        let logger = self.logger
        let result = try await withDatabaseErrors("running job \(job.id)'s transaction", isolation: isolation) {
            try await client.withGuardedTransaction(logger: logger, isolation: isolation) { connection -> T in
            let fence = try await connection.query(
                """
                SELECT 1 FROM jobs WHERE id = \(job.id) AND attempt = \(job.attempt) AND state = 'running'
                  AND lease_owner = \(job.owner)
                FOR KEY SHARE
                """,
                logger: logger
            )
            var held = false
            for try await _ in fence { held = true }
            guard held else {
                throw HubError(.conflict, "job \(job.id) attempt \(job.attempt) no longer holds its lease; its writes were discarded")
            }
            try connection.ensureOpen()
            let value = try await body(connection)
            if completing {
                try await connection.query(
                    """
                    UPDATE jobs SET state = 'completed', finalized_at = now(), lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = \(job.id) AND attempt = \(job.attempt)
                    """,
                    logger: logger
                )
            }
            return value
            }
        }
        if completing { state.withLock { $0.completedInTransaction = true } }
        return result
    }
}

extension JobContext {
    /// Records the job's progress in `database`, which must be one of `withTransaction`'s: it
    /// commits with the work it counts, so it is also where a retried attempt resumes.
    public func saveProgress(_ progress: JSONValue, on database: PostgresConnection) async throws {
        try await database.query("UPDATE jobs SET progress = \(progress.canonicalJSON)::jsonb WHERE id = \(job.id)", logger: logger)
    }

    /// The progress an earlier attempt committed; nil when there is none.
    public func savedProgress() async throws -> JSONValue? {
        try await withDatabaseErrors("reading job \(job.id)'s progress") {
            for try await text in try await client.query("SELECT progress::text FROM jobs WHERE id = \(job.id)", logger: logger).decode(String?.self) {
                return text.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            }
            return nil
        }
    }
}

/// How a handler's run ended, when it didn't throw.
public enum JobOutcome: Sendable, Equatable {
    case completed
    /// Not now (rate limited, say): run again after this long, without using up an attempt.
    case snooze(Duration)
}

/// Runs one kind of job.
public typealias JobHandler = @Sendable (JobContext) async throws -> JobOutcome
