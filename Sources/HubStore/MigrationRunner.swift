import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// Applies the embedded migrations: in order, each in its own transaction, under an advisory
/// lock so that processes migrating at once apply each file exactly once.
public struct MigrationRunner: Sendable {
    /// What the runner reports while it works, for progress output.
    public enum Event: Sendable {
        case applying(Migration)
        case applied(Migration, milliseconds: Int)
        case wouldApply(Migration)
    }

    public struct Report: Sendable {
        public let applied: [String]
        public let alreadyApplied: Int

        public init(applied: [String], alreadyApplied: Int) {
            self.applied = applied
            self.alreadyApplied = alreadyApplied
        }
    }

    /// "tributar" in ASCII: the advisory lock key all Tributary processes agree on.
    static let lockKey: Int64 = 0x7472_6962_7574_6172

    public let migrations: [Migration]
    /// The folder the files come from, for messages: `migrations` or `migrations-vault`.
    public let folder: String

    public init(migrations: [Migration] = Migration.embedded, folder: String = "migrations") {
        self.migrations = migrations
        self.folder = folder
    }

    /// The runner of the vault database's migrations.
    public static var vault: MigrationRunner { MigrationRunner(migrations: Migration.vault, folder: "migrations-vault") }

    /// Reads the schema's state without changing anything (no lock, no table created).
    public func status(on client: PostgresClient, logger: Logger) async throws -> MigrationStatus {
        do {
            return try await client.withConnection { connection in
                try await self.status(on: connection, logger: logger)
            }
        } catch {
            throw HubError.database(error, while: "reading the schema version")
        }
    }

    /// Applies every pending migration, or with `dryRun` reports what it would apply.
    public func migrate(
        on client: PostgresClient, dryRun: Bool = false, logger: Logger,
        progress: @Sendable (Event) -> Void = { _ in }
    ) async throws -> Report {
        try Migration.validate(migrations)
        return try await withDatabaseErrors("migrating") {
            try await client.withConnection { connection in
                // A session lock: held until released or the connection drops with a crashed process.
                try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
                do {
                    let report = try await self.migrateLocked(connection, dryRun: dryRun, logger: logger, progress: progress)
                    try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                    return report
                } catch {
                    _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                    throw error
                }
            }
        }
    }

    private func migrateLocked(
        _ connection: PostgresConnection, dryRun: Bool, logger: Logger, progress: @Sendable (Event) -> Void
    ) async throws -> Report {
        if !dryRun {
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    name text PRIMARY KEY,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    execution_ms integer NOT NULL
                )
                """,
                logger: logger
            )
        }
        let status = try await self.status(on: connection, logger: logger)
        // An edited applied file or a newer binary's migration: applying anything could corrupt the schema.
        if !status.changed.isEmpty || !status.unknown.isEmpty, let refusal = status.refusal { throw refusal }
        var applied: [String] = []
        for migration in status.pending {
            if dryRun {
                progress(.wouldApply(migration))
                continue
            }
            progress(.applying(migration))
            let started = ContinuousClock.now
            try await apply(migration, on: connection, logger: logger)
            let elapsed = ContinuousClock.now - started
            let milliseconds = Int(elapsed.inSeconds * 1000)
            try await connection.query(
                "UPDATE schema_migrations SET execution_ms = \(milliseconds) WHERE name = \(migration.name)", logger: logger
            )
            logger.info("applied migration", metadata: ["hub.migration": "\(migration.name)", "hub.duration_ms": "\(milliseconds)"])
            progress(.applied(migration, milliseconds: milliseconds))
            applied.append(migration.name)
        }
        return Report(applied: applied, alreadyApplied: status.applied.count)
    }

    private func apply(_ migration: Migration, on connection: PostgresConnection, logger: Logger) async throws {
        let statements = migration.statements
        try await connection.query("BEGIN", logger: logger)
        for (index, statement) in statements.enumerated() {
            do {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                let cause = (error as? PSQLError)?.serverInfo?[.message] ?? String(describing: type(of: error))
                throw HubError(
                    .migrationFailed,
                    "\(folder)/\(migration.name) failed at statement \(index + 1) of \(statements.count): \(cause); nothing of it was applied"
                )
            }
        }
        do {
            try await connection.query(
                "INSERT INTO schema_migrations (name, checksum, execution_ms) VALUES (\(migration.name), \(migration.checksum), 0)",
                logger: logger
            )
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private func status(on connection: PostgresConnection, logger: Logger) async throws -> MigrationStatus {
        let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
        var rows: [MigrationStatus.Applied] = []
        for try await hasTable in exists.decode(Bool.self) where hasTable {
            let result = try await connection.query("SELECT name, checksum FROM schema_migrations ORDER BY name", logger: logger)
            for try await (name, checksum) in result.decode((String, String).self) {
                rows.append(.init(name: name, checksum: checksum))
            }
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.name, $0) })
        let appliedNames = Set(rows.map(\.name))
        var status = MigrationStatus(
            applied: rows,
            pending: migrations.filter { !appliedNames.contains($0.name) },
            unknown: rows.filter { known[$0.name] == nil }.map(\.name),
            changed: rows.filter { row in known[row.name].map { $0.checksum != row.checksum } ?? false }.map(\.name)
        )
        status.folder = folder
        return status
    }
}
