@testable import HubStore
import HubCore
import PostgresNIO
import Synchronization
import Testing
import TributaryTestSupport

@Suite("Applying migrations to a real PostgreSQL")
struct MigrationRunnerTests {
    let logger = TestDatabase.logger

    func appliedNames(_ client: PostgresClient) async throws -> [String] {
        var names: [String] = []
        let rows = try await client.query("SELECT name FROM schema_migrations ORDER BY name", logger: logger)
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }

    func tableExists(_ name: String, _ client: PostgresClient) async throws -> Bool {
        let rows = try await client.query("SELECT to_regclass(\(name)) IS NOT NULL", logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }

    @Test func migratesAFreshDatabaseThenIsANoOp() async throws {
        let url = try await TestDatabase.makeEmptyDatabase()
        try await TestDatabase.withClient(url) { client in
            let runner = MigrationRunner()
            #expect(try await runner.status(on: client, logger: logger).pending.count == Migration.embedded.count)

            let first = try await runner.migrate(on: client, logger: logger)
            #expect(first.applied == Migration.embedded.map(\.name))
            #expect(try await appliedNames(client) == Migration.embedded.map(\.name))
            for table in ["tenants", "api_keys", "connectors", "connections", "sync_state", "records"] {
                #expect(try await tableExists(table, client), "table \(table) missing")
            }

            let second = try await runner.migrate(on: client, logger: logger)
            #expect(second.applied.isEmpty)
            #expect(second.alreadyApplied == Migration.embedded.count)
            #expect(try await runner.status(on: client, logger: logger).isCurrent)
        }
    }

    @Test func dryRunChangesNothing() async throws {
        let url = try await TestDatabase.makeEmptyDatabase()
        try await TestDatabase.withClient(url) { client in
            let seen = EventLog()
            let report = try await MigrationRunner().migrate(on: client, dryRun: true, logger: logger) { event in
                if case .wouldApply(let migration) = event { seen.append(migration.name) }
            }
            #expect(report.applied.isEmpty)
            #expect(seen.names == Migration.embedded.map(\.name))
            #expect(try await tableExists("schema_migrations", client) == false)
            #expect(try await tableExists("tenants", client) == false)
        }
    }

    @Test func anEditedAppliedMigrationIsRefusedByName() async throws {
        let url = try await TestDatabase.makeEmptyDatabase()
        try await TestDatabase.withClient(url) { client in
            let original = [Migration(name: "0001_first.sql", sql: "CREATE TABLE first (id int);")]
            _ = try await MigrationRunner(migrations: original).migrate(on: client, logger: logger)
            let edited = [
                Migration(name: "0001_first.sql", sql: "CREATE TABLE first (id bigint);"),
                Migration(name: "0002_second.sql", sql: "CREATE TABLE second (id int);"),
            ]
            let runner = MigrationRunner(migrations: edited)
            let error = await #expect(throws: HubError.self) { try await runner.migrate(on: client, logger: logger) }
            #expect(error?.code == .migrationChecksumMismatch)
            #expect(error?.message.contains("migrations/0001_first.sql") == true)
            let hasSecond = try await tableExists("second", client)
            let refusal = try await runner.status(on: client, logger: logger).refusal
            #expect(!hasSecond, "nothing may be applied past a changed file")
            #expect(refusal?.code == .migrationChecksumMismatch)
        }
    }

    @Test func aFailingMigrationRollsBackWhollyAndSaysWhere() async throws {
        let url = try await TestDatabase.makeEmptyDatabase()
        try await TestDatabase.withClient(url) { client in
            let migrations = [
                Migration(name: "0001_good.sql", sql: "CREATE TABLE good (id int);"),
                Migration(name: "0002_bad.sql", sql: "CREATE TABLE half (id int);\nINSERT INTO missing_table VALUES (1);"),
            ]
            let error = await #expect(throws: HubError.self) {
                try await MigrationRunner(migrations: migrations).migrate(on: client, logger: logger)
            }
            #expect(error?.code == .migrationFailed)
            #expect(error?.message.contains("migrations/0002_bad.sql failed at statement 2 of 2") == true)
            #expect(error?.message.contains("missing_table") == true)
            let applied = try await appliedNames(client)
            let hasGood = try await tableExists("good", client)
            let hasHalf = try await tableExists("half", client)
            #expect(applied == ["0001_good.sql"])
            #expect(hasGood)
            #expect(!hasHalf)
        }
    }

    @Test func concurrentRunnersApplyEachFileOnce() async throws {
        let url = try await TestDatabase.makeEmptyDatabase()
        // A migration that fails if run twice: the second CREATE TABLE would error.
        try await withThrowingTaskGroup(of: MigrationRunner.Report.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await TestDatabase.withClient(url) { client in
                        try await MigrationRunner().migrate(on: client, logger: TestDatabase.logger)
                    }
                }
            }
            var appliedCounts: [Int] = []
            for try await report in group { appliedCounts.append(report.applied.count) }
            #expect(appliedCounts.sorted() == [0, 0, 0, Migration.embedded.count])
        }
        let applied = try await TestDatabase.withClient(url) { client in try await appliedNames(client) }
        #expect(applied == Migration.embedded.map(\.name))
    }

    @Test func aNewerDatabaseIsReportedAsTooNew() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            try await client.query(
                "INSERT INTO schema_migrations (name, checksum, execution_ms) VALUES ('9999_future.sql', 'x', 0)", logger: logger
            )
            let status = try await MigrationRunner().status(on: client, logger: logger)
            #expect(status.unknown == ["9999_future.sql"])
            #expect(status.refusal?.code == .schemaTooNew)
            await #expect(throws: HubError.self) { try await MigrationRunner().migrate(on: client, logger: logger) }
        }
    }
}

/// Collects progress events from a `@Sendable` callback.
final class EventLog: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ name: String) { storage.withLock { $0.append(name) } }
    var names: [String] { storage.withLock { $0 } }
}
