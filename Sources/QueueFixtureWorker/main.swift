import Foundation
import HubCore
import HubDatabase
import HubQueue
import Logging
import PostgresNIO
import ServiceLifecycle
import UnixSignals

// A queue worker or scheduler process with test job kinds, run by the queue's process tests:
//   QueueFixtureWorker worker|scheduler     (TRIBUTARY_DATABASE_URL, FIXTURE_* settings)
// Job kinds: fixture.stubborn waits `ms` ignoring cancellation; fixture.count and fixture.sleep record each run in fixture_runs inside the job's
// fenced transaction that also completes it; fixture.hold does too, then keeps that
// transaction open for `ms` before committing; fixture.noop does nothing.

let environment = ProcessInfo.processInfo.environment
func setting(_ name: String, _ fallback: Int) -> Int { environment[name].flatMap(Int.init) ?? fallback }

var logger = Logger(label: "fixture")
logger.logLevel = .notice
guard CommandLine.arguments.count == 2, let raw = environment["TRIBUTARY_DATABASE_URL"], let url = try? DatabaseURL(parsing: raw)
else {
    FileHandle.standardError.write(Data("usage: TRIBUTARY_DATABASE_URL=… QueueFixtureWorker worker|scheduler\n".utf8))
    exit(2)
}
let role = CommandLine.arguments[1]

@Sendable func recordRun(_ context: JobContext) async throws {
    let worker = "\(getpid())"
    _ = try await context.withTransaction(completing: true) { connection in
        try await connection.query(
            "INSERT INTO fixture_runs (job_id, attempt, worker) VALUES (\(context.job.id), \(context.job.attempt), \(worker))",
            logger: context.logger
        )
    }
}

let handlers: [String: JobHandler] = [
    "fixture.noop": { _ in .completed },
    "fixture.count": { context in
        try await recordRun(context)
        return .completed
    },
    "fixture.hold": { context in
        let milliseconds = Int(context.job.args["ms"]?.scalarText ?? "") ?? 1000
        let worker = "\(getpid())"
        _ = try await context.withTransaction(completing: true) { connection in
            try await connection.query(
                "INSERT INTO fixture_runs (job_id, attempt, worker) VALUES (\(context.job.id), \(context.job.attempt), \(worker))",
                logger: context.logger
            )
            // Idle inside the open transaction, holding the job row's lock, as a stalled worker would.
            try await Task.sleep(for: .milliseconds(milliseconds))
        }
        return .completed
    },
    "fixture.stubborn": { context in
        // Ignores cancellation: a handler in the middle of something it must finish.
        let milliseconds = Int(context.job.args["ms"]?.scalarText ?? "") ?? 1000
        await uncancellable { try? await Task.sleep(for: .milliseconds(milliseconds)) }
        return .completed
    },
    "fixture.sleep": { context in
        let milliseconds = Int(context.job.args["ms"]?.scalarText ?? "") ?? 1000
        try await Task.sleep(for: .milliseconds(milliseconds))
        try await recordRun(context)
        return .completed
    },
]

let idleTransactionLimit = setting("FIXTURE_IDLE_TX_MS", 0)
let session = DatabaseSessionLimits(idleInTransactionTimeout: idleTransactionLimit > 0 ? .milliseconds(idleTransactionLimit) : nil)
let client = PostgresClient(
    configuration: url.clientConfiguration(maximumConnections: setting("FIXTURE_CONNECTIONS", 6), session: session), backgroundLogger: logger
)
let service: any Service
switch role {
case "worker":
    service = WorkerPool(
        client: client,
        configuration: WorkerConfiguration(
            queues: [.init(name: environment["FIXTURE_QUEUE"] ?? "default", slots: setting("FIXTURE_SLOTS", 10), batch: setting("FIXTURE_BATCH", 100))],
            lease: .milliseconds(setting("FIXTURE_LEASE_MS", 30_000)), heartbeat: .milliseconds(setting("FIXTURE_HEARTBEAT_MS", 10_000)),
            pollInterval: .milliseconds(setting("FIXTURE_POLL_MS", 500)), rescueInterval: .milliseconds(setting("FIXTURE_RESCUE_MS", 1000)),
            gracePeriod: .milliseconds(setting("FIXTURE_GRACE_MS", 5000))
        ),
        handlers: handlers, logger: logger
    )
case "scheduler":
    service = PeriodicScheduler(
        client: client,
        schedules: [
            PeriodicSchedule(name: "fixture.tick", every: .milliseconds(setting("FIXTURE_PERIOD_MS", 1000))) { start in
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                return JobRequest(kind: "fixture.tick", queue: "ticks", args: ["period": .string(formatter.string(from: start))])
            }
        ],
        tickInterval: .milliseconds(100), takeoverInterval: .milliseconds(500), logger: logger
    )
default:
    FileHandle.standardError.write(Data("unknown role \(role)\n".utf8))
    exit(2)
}

/// Runs the service until SIGTERM/SIGINT, the client outside it so that it closes last.
nonisolated func serve(_ service: any Service, client: PostgresClient, logger: Logger) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        await client.startRunning(in: &group)
        var configuration = ServiceGroupConfiguration(services: [service], logger: logger)
        // SIGTERM drains gracefully; SIGUSR1 then cancels, as a group past its grace does.
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        configuration.cancellationSignals = [.sigusr1]
        try await ServiceGroup(configuration: configuration).run()
        group.cancelAll()
    }
}

do {
    try await serve(service, client: client, logger: logger)
} catch {
    FileHandle.standardError.write(Data("fixture: \(error)\n".utf8))
    exit(1)
}
