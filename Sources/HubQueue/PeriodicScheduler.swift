import Foundation
import HubCore
import HubStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// A job enqueued once per period.
public struct PeriodicSchedule: Sendable {
    public let name: String
    public let every: Duration
    /// The job for the period starting at the given time.
    public let job: @Sendable (_ periodStart: Date) -> JobRequest

    public init(name: String, every: Duration, job: @escaping @Sendable (Date) -> JobRequest) {
        self.name = name
        self.every = every
        self.job = job
    }
}

/// Enqueues periodic jobs. Any number of schedulers may run; one leads at a time (holding a
/// session advisory lock, which PostgreSQL releases the moment the leader's connection dies),
/// the others retry every `takeoverInterval`. Periods are cut from the database's clock and
/// each enqueue writes a `periodic_runs` row in the same transaction, so no period is enqueued
/// twice, whoever leads and however leadership changes.
public final class PeriodicScheduler: Service {
    /// "tribsched" in ASCII.
    static let leaderLockKey: Int64 = 0x7472_6962_7363_6864

    let client: PostgresClient
    let schedules: [PeriodicSchedule]
    let tickInterval: Duration
    let takeoverInterval: Duration
    let logger: Logger

    public init(
        client: PostgresClient, schedules: [PeriodicSchedule], tickInterval: Duration = .seconds(1),
        takeoverInterval: Duration = .seconds(2), logger: Logger
    ) {
        self.client = client
        self.schedules = schedules
        self.tickInterval = tickInterval
        self.takeoverInterval = takeoverInterval
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
        try await client.withConnection { connection in
            let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.leaderLockKey))", logger: logger)
            var leader = false
            for try await value in rows.decode(Bool.self) { leader = value }
            guard leader else { return }
            logger.info("leading the periodic schedules", metadata: ["hub.schedules": "\(schedules.map(\.name))"])
            defer { logger.info("no longer leading the periodic schedules") }
            while !Task.isCancelled {
                for schedule in schedules { try await enqueueCurrentPeriod(schedule, on: connection) }
                try? await Task.sleep(for: tickInterval)
            }
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.leaderLockKey))", logger: logger)
        }
    }

    private func enqueueCurrentPeriod(_ schedule: PeriodicSchedule, on connection: PostgresConnection) async throws {
        // A period under a millisecond is a configuration mistake; treat it as one millisecond.
        let seconds = max(0.001, Double(schedule.every.components.seconds) + Double(schedule.every.components.attoseconds) / 1e18)
        try await connection.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO periodic_runs (schedule, period_start, job_id)
                VALUES (\(schedule.name), to_timestamp(floor(extract(epoch FROM now()) / \(seconds)) * \(seconds)), 0)
                ON CONFLICT DO NOTHING
                RETURNING period_start
                """,
                logger: logger
            )
            var periodStart: Date?
            for try await value in rows.decode(Date.self) { periodStart = value }
            guard let periodStart else { return }
            let id = try await JobQueue(client: client, logger: logger).enqueue(schedule.job(periodStart), on: connection)
            try await connection.query(
                "UPDATE periodic_runs SET job_id = \(id) WHERE schedule = \(schedule.name) AND period_start = \(periodStart)",
                logger: logger
            )
        }
    }
}
