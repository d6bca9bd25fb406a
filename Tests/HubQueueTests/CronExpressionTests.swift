import Foundation
import HubCore
import HubQueue
import HubStore
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing
import TributaryTestSupport

@Suite("Cron schedules")
struct CronExpressionTests {
    func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text) ?? Date.distantPast
    }

    @Test(arguments: [
        ("*/15 * * * *", "2026-11-27T10:22:30Z", "2026-11-27T10:15:00Z"),
        ("*/15 * * * *", "2026-11-27T10:15:00Z", "2026-11-27T10:15:00Z"),
        ("0 3 * * 1", "2026-11-27T10:22:00Z", "2026-11-23T03:00:00Z"),
        ("30 8-18/2 * * *", "2026-11-27T07:59:00Z", "2026-11-26T18:30:00Z"),
        ("0 0 1 1 *", "2026-11-27T10:00:00Z", "2026-01-01T00:00:00Z"),
        ("@hourly", "2026-11-27T10:59:59Z", "2026-11-27T10:00:00Z"),
        ("@weekly", "2026-11-27T10:00:00Z", "2026-11-22T00:00:00Z"),
        ("0 12 13 * 5", "2026-11-27T13:00:00Z", "2026-11-27T12:00:00Z"),
        ("0 12 13 * 7", "2026-11-27T13:00:00Z", "2026-11-22T12:00:00Z"),
        ("5,35 0 29 2 *", "2026-11-27T00:00:00Z", "2024-02-29T00:35:00Z"),
    ])
    func previousFire(_ expression: String, _ now: String, _ expected: String) throws {
        #expect(try CronExpression(expression).previousFire(atOrBefore: date(now)) == date(expected))
    }

    @Test func anImpossibleDateNeverFires() throws {
        #expect(try CronExpression("0 0 31 2 *").previousFire(atOrBefore: date("2026-11-27T00:00:00Z")) == nil)
    }

    @Test(arguments: [
        ("* * * *", "has 4 fields"), ("60 * * * *", "minute field '60' is outside 0-59"), ("* 1-x * * *", "hour field"),
        ("*/0 * * * *", "step"), ("* * 0 * *", "day of month field '0' is outside 1-31"), ("* * * * 8", "day of week"),
    ])
    func badExpressionsSayWhatIsWrong(_ expression: String, _ fragment: String) {
        let error = #expect(throws: HubError.self) { try CronExpression(expression) }
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
    }

    @Test func twoSchedulersEnqueueTheCurrentCronPeriodOnce() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let schedule = PeriodicSchedule(name: "report", cadence: .cron(try CronExpression("* * * * *"))) { start in
                JobRequest(kind: "report", args: ["minute": .string(ISO8601DateFormatter().string(from: start))])
            }
            let schedulers = (0..<2).map { _ in
                PeriodicScheduler(client: client, schedules: [schedule], tickInterval: .milliseconds(50), takeoverInterval: .milliseconds(100), logger: TestDatabase.logger)
            }
            let group = ServiceGroup(services: schedulers, gracefulShutdownSignals: [], cancellationSignals: [], logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await Task.sleep(for: .seconds(2))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            var counts: (runs: Int, jobs: Int, minutes: Int) = (0, 0, 0)
            let rows = try await client.query(
                """
                SELECT (SELECT count(*) FROM periodic_runs WHERE schedule = 'report')::int8,
                       (SELECT count(*) FROM jobs WHERE kind = 'report')::int8,
                       (SELECT count(DISTINCT args->>'minute') FROM jobs WHERE kind = 'report')::int8
                """,
                logger: TestDatabase.logger
            )
            for try await row in rows.decode((Int, Int, Int).self) { counts = row }
            // Two seconds can straddle a minute boundary: one or two periods, each enqueued once.
            #expect((1...2).contains(counts.runs))
            #expect(counts.jobs == counts.runs)
            #expect(counts.minutes == counts.jobs)
        }
    }
}
