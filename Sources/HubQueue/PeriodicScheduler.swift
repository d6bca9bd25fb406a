import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO
import ServiceLifecycle

/// A job enqueued once per period.
public struct PeriodicSchedule: Sendable {
    /// When periods start.
    public enum Cadence: Sendable {
        /// Back to back, aligned to the Unix epoch (every hour starts on the hour).
        case every(Duration)
        /// At the times a cron expression names, in UTC.
        case cron(CronExpression)
    }

    public let name: String
    public let cadence: Cadence
    /// The job for the period starting at the given time.
    public let job: @Sendable (_ periodStart: Date) -> JobRequest

    public init(name: String, every: Duration, job: @escaping @Sendable (Date) -> JobRequest) {
        self.init(name: name, cadence: .every(every), job: job)
    }

    public init(name: String, cadence: Cadence, job: @escaping @Sendable (Date) -> JobRequest) {
        self.name = name
        self.cadence = cadence
        self.job = job
    }

    /// The start of the period `now` falls in; nil when a cron expression never fires.
    public func periodStart(at now: Date) -> Date? {
        switch cadence {
        case .every(let interval):
            // A period under a millisecond is a configuration mistake; treat it as one millisecond.
            let seconds = max(0.001, interval.inSeconds)
            return Date(timeIntervalSince1970: (now.timeIntervalSince1970 / seconds).rounded(.down) * seconds)
        case .cron(let expression):
            return expression.previousFire(atOrBefore: now)
        }
    }
}

/// Enqueues periodic jobs. Any number of schedulers may run; one leads at a time (holding a
/// session advisory lock, which PostgreSQL releases the moment the leader's connection dies),
/// the others retry every `takeoverInterval`. Periods are cut from the database's clock and
/// each enqueue writes a `periodic_runs` row in the same transaction, so no period is enqueued
/// twice, whoever leads and however leadership changes.
///
/// The leader holds one connection for its lock. When the database restarts or fails over
/// that connection dies with the lock: the leader notices before its next tick (a closed
/// connection is never used: postgres-nio would wait on it forever), or within `queryTimeout`
/// when the server stops answering without closing it, and goes back to the election, which
/// it wins again once the database is back.
public final class PeriodicScheduler: Service {
    /// "tribsched" in ASCII.
    static let leaderLockKey: Int64 = 0x7472_6962_7363_6864

    let client: PostgresClient
    let schedules: [PeriodicSchedule]
    let tickInterval: Duration
    let takeoverInterval: Duration
    let queryTimeout: Duration
    let logger: Logger

    public init(
        client: PostgresClient, schedules: [PeriodicSchedule], tickInterval: Duration = .seconds(1),
        takeoverInterval: Duration = .seconds(2), queryTimeout: Duration = .seconds(10), logger: Logger
    ) {
        self.client = client
        self.schedules = schedules
        self.tickInterval = tickInterval
        self.takeoverInterval = takeoverInterval
        self.queryTimeout = queryTimeout
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.leadWhilePossible()
                } catch {
                    if Task.isCancelled { break }
                    self.logger.error("scheduler lost its database connection; retrying", metadata: ["hub.error": "\(error)"])
                }
                try? await Task.sleep(for: self.takeoverInterval)
            }
        }
    }

    /// Tries to become leader; as leader, ticks until cancelled or the connection fails.
    private func leadWhilePossible() async throws {
        let logger = self.logger
        try await client.withConnection { connection in
            let leader = try await connection.withDeadline(queryTimeout) { connection in
                let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.leaderLockKey))", logger: logger)
                var leader = false
                for try await value in rows.decode(Bool.self) { leader = value }
                return leader
            }
            guard leader else { return }
            logger.info("leading the periodic schedules", metadata: ["hub.schedules": "\(schedules.map(\.name))"])
            defer { logger.info("no longer leading the periodic schedules") }
            while !Task.isCancelled {
                try await connection.withDeadline(queryTimeout) { connection in
                    for schedule in self.schedules { try await self.enqueueCurrentPeriod(schedule, on: connection) }
                }
                try? await Task.sleep(for: tickInterval)
            }
            if !connection.isClosed {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.leaderLockKey))", logger: logger)
            }
        }
    }

    private func enqueueCurrentPeriod(_ schedule: PeriodicSchedule, on connection: PostgresConnection) async throws {
        try await connection.withGuardedTransaction(logger: logger) { connection in
            // The database's clock, not this machine's: schedulers on several machines agree.
            var now = Date()
            for try await value in try await connection.query("SELECT now()", logger: logger).decode(Date.self) { now = value }
            guard let periodStart = schedule.periodStart(at: now) else { return }
            let rows = try await connection.query(
                """
                INSERT INTO periodic_runs (schedule, period_start, job_id) VALUES (\(schedule.name), \(periodStart), 0)
                ON CONFLICT DO NOTHING
                RETURNING 1
                """,
                logger: logger
            )
            var inserted = false
            for try await _ in rows { inserted = true }
            guard inserted else { return }
            let id = try await JobQueue(client: client, logger: logger).enqueue(schedule.job(periodStart), on: connection)
            try await connection.query(
                "UPDATE periodic_runs SET job_id = \(id) WHERE schedule = \(schedule.name) AND period_start = \(periodStart)",
                logger: logger
            )
        }
    }
}
