import Foundation
import HubDatabase
import HubEmbeddedPostgres
import HubStore
import Logging
import PostgresNIO

/// The real PostgreSQL every test runs against: `TRIBUTARY_TEST_DATABASE_URL` when set (a role
/// allowed to create databases), otherwise one embedded server per test process, in a folder
/// under the system's temporary directory that later runs reuse.
///
/// Each test (or suite) takes a fresh database of its own, so tests never see each other's rows.
public enum TestDatabase {
    public static let logger: Logger = {
        var logger = Logger(label: "tributary.test")
        logger.logLevel = .warning
        return logger
    }()

    /// A new, empty database (no schema).
    public static func makeEmptyDatabase() async throws -> DatabaseURL {
        try await SharedTestServer.shared.makeDatabase(template: nil)
    }

    /// A new database with every embedded migration applied, cloned from a template that is
    /// migrated once per test process.
    public static func makeMigratedDatabase() async throws -> DatabaseURL {
        let template = try await SharedTestServer.shared.migratedTemplate()
        return try await SharedTestServer.shared.makeDatabase(template: template)
    }

    /// Runs `body` with a client of `url`.
    public static func withClient<T>(
        _ url: DatabaseURL, isolation: isolated (any Actor)? = #isolation, _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        try await PostgresClient.withRunning(url, maximumConnections: 4, logger: logger, body)
    }

    /// The folder the shared embedded server lives in.
    public static var embeddedRoot: String {
        if let configured = ProcessInfo.processInfo.environment["TRIBUTARY_TEST_DATA_DIR"] { return configured }
        return FileManager.default.temporaryDirectory.appendingPathComponent("tributary-test-\(getuid())").path
    }
}

/// Starts the shared server once and hands out databases on it.
actor SharedTestServer {
    static let shared = SharedTestServer()

    private var serverURL: Task<DatabaseURL, any Error>?
    private var template: Task<String, any Error>?
    private var embedded: EmbeddedPostgres?

    func url() async throws -> DatabaseURL {
        if let serverURL { return try await serverURL.value }
        let task = Task { try await self.startServer() }
        serverURL = task
        return try await task.value
    }

    private func startServer() async throws -> DatabaseURL {
        if let raw = ProcessInfo.processInfo.environment["TRIBUTARY_TEST_DATABASE_URL"], !raw.isEmpty {
            return try DatabaseURL(parsing: raw)
        }
        // Never stopped explicitly: its watchdog stops it when the test process exits.
        let server = EmbeddedPostgres(
            // Suites run in parallel, with worker pools and worker processes of their own.
            configuration: .init(
                rootDirectory: TestDatabase.embeddedRoot, database: "tributary_tests", settings: ["max_connections": "500"],
                durable: false
            ),
            logger: TestDatabase.logger
        )
        embedded = server
        let url = try await server.start()
        if await server.serverPID != nil { try await dropLeftovers(url) }
        return url
    }

    /// Databases a crashed earlier run left behind in the reused cluster.
    private func dropLeftovers(_ url: DatabaseURL) async throws {
        try await TestDatabase.withClient(url) { client in
            let rows = try await client.query(
                "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%' OR datname LIKE 'template\\_tributary\\_%'",
                logger: TestDatabase.logger
            )
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            for name in names { try await DatabaseAdmin.dropDatabase(name, on: client, logger: TestDatabase.logger) }
        }
    }

    func migratedTemplate() async throws -> String {
        if let template { return try await template.value }
        let task = Task { try await self.buildTemplate() }
        template = task
        return try await task.value
    }

    private func buildTemplate() async throws -> String {
        let base = try await url()
        let name = "template_tributary_\(UUID().uuidString.prefix(8).lowercased())"
        try await TestDatabase.withClient(base) { client in
            try await DatabaseAdmin.createDatabaseIfMissing(name, on: client, logger: TestDatabase.logger)
        }
        try await TestDatabase.withClient(base.withDatabase(name)) { client in
            _ = try await MigrationRunner().migrate(on: client, logger: TestDatabase.logger)
        }
        return name
    }

    func makeDatabase(template: String?) async throws -> DatabaseURL {
        let base = try await url()
        let name = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        try await TestDatabase.withClient(base) { client in
            // The template's own connections close asynchronously after it is migrated;
            // PostgreSQL refuses to copy a database someone is still connected to.
            var attempt = 0
            while true {
                do {
                    try await DatabaseAdmin.createDatabaseIfMissing(name, template: template, on: client, logger: TestDatabase.logger)
                    return
                } catch {
                    attempt += 1
                    if attempt >= 50 { throw error }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        return base.withDatabase(name)
    }
}

extension TestDatabase {
    /// The first column of the first row of `sql`, as an integer (-1 when there is no row).
    public static func scalar(_ url: DatabaseURL, _ sql: String) async throws -> Int {
        try await withClient(url) { client in
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return value }
            return -1
        }
    }
}
