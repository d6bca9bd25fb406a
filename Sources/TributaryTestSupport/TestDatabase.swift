import Foundation
import HubCore
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
            // The roles of split-database tests, whose databases are gone now.
            let roles = try await client.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'tr\\_%'", logger: TestDatabase.logger)
            var roleNames: [String] = []
            for try await name in roles.decode(String.self) { roleNames.append(name) }
            for name in roleNames {
                _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP ROLE IF EXISTS \(name)"), logger: TestDatabase.logger)
            }
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

    private var vault: Task<(url: DatabaseURL, client: PostgresClient), any Error>?
    /// Runs the shared vault's client for the rest of the process (never cancelled: the
    /// process's exit ends it, as it ends the shared server).
    private var vaultRunner: Task<Void, Never>?

    /// The process's shared vault database and a running client of it.
    func sharedVault() async throws -> (url: DatabaseURL, client: PostgresClient) {
        if let vault { return try await vault.value }
        let task = Task { () -> (url: DatabaseURL, client: PostgresClient) in
            let url = try await TestDatabase.makeVaultDatabase()
            let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 20), backgroundLogger: TestDatabase.logger)
            self.startRunning(client)
            return (url, client)
        }
        vault = task
        return try await task.value
    }

    private func startRunning(_ client: PostgresClient) {
        vaultRunner = Task.detached { await client.run() }
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
    /// Two new databases on the test server, the main one and a vault, each owned by a login
    /// role of its own that may connect to nothing else (docs/vault.md), both migrated by
    /// their own role. The main database's copies of the vault tables are dropped, as
    /// `tributary migrate` drops them when a vault is configured.
    public static func makeSplitDatabases() async throws -> (main: DatabaseURL, vault: DatabaseURL) {
        let base = try await SharedTestServer.shared.url()
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        var made: [DatabaseURL] = []
        for kind in ["m", "v"] {
            let password = UUID().uuidString.replacingOccurrences(of: "-", with: "")
            let name = "t_\(kind)\(suffix)", role = "tr_\(kind)\(suffix)"
            try await withClient(base) { client in
                try await DatabaseAdmin.createPrivateDatabase(name, owner: role, password: Secret(password), on: client, logger: logger)
            }
            var url = base.withDatabase(name)
            url.username = role
            url.password = Secret(password)
            made.append(url)
        }
        try await withClient(made[0]) { client in
            _ = try await MigrationRunner().migrate(on: client, logger: logger)
            try await VaultSplit.dropOriginals(in: client, logger: logger)
        }
        try await withClient(made[1]) { client in _ = try await MigrationRunner.vault.migrate(on: client, logger: logger) }
        try await withClient(made[0]) { main in
            try await withClient(made[1]) { vault in try await VaultSplit.pair(main: main, vault: vault, logger: logger) }
        }
        return (made[0], made[1])
    }

    /// Whether harnesses keep the vault in a database of its own: `TRIBUTARY_TEST_VAULT=split`
    /// (scripts/test runs the API suite a second time so).
    public static var splitVault: Bool { ProcessInfo.processInfo.environment["TRIBUTARY_TEST_VAULT"] == "split" }

    /// Runs `body` with clients of a new migrated main database and of its vault: two
    /// databases, each with its own role, when `split`; one database for both otherwise.
    public static func withStores<T>(
        split: Bool = splitVault, isolation: isolated (any Actor)? = #isolation,
        _ body: (_ main: PostgresClient, _ vault: PostgresClient) async throws -> T
    ) async throws -> T {
        if split {
            let (main, vault) = try await makeSplitDatabases()
            return try await withClient(main) { client in
                try await withClient(vault) { vaultClient in try await body(client, vaultClient) }
            }
        }
        let url = try await makeMigratedDatabase()
        return try await withClient(url) { client in try await body(client, client) }
    }

    /// For harnesses that make their main database themselves: with `TRIBUTARY_TEST_VAULT=split`,
    /// one vault database shared by the whole test process (each test's tenants are its own),
    /// after dropping `main`'s empty copies of the vault tables, so that a secret reached
    /// through the main database fails; otherwise nil (the vault is the main database).
    public static func vault(for main: PostgresClient) async throws -> PostgresClient? {
        guard splitVault else { return nil }
        try await VaultSplit.dropOriginals(in: main, logger: logger)
        let vault = try await SharedTestServer.shared.sharedVault().client
        try await VaultSplit.pair(main: main, vault: vault, logger: logger)
        return vault
    }

    /// What a `tributary` process started by such a harness needs to find that vault:
    /// `TRIBUTARY_VAULT_DATABASE_URL`, or nothing when the vault is the main database.
    public static func vaultEnvironment() async throws -> [String: String] {
        guard splitVault else { return [:] }
        return ["TRIBUTARY_VAULT_DATABASE_URL": try await SharedTestServer.shared.sharedVault().url.revealedString]
    }

    /// A migrated, empty vault database (owned by the server's superuser) for a main database
    /// made by `makeMigratedDatabase`: the target of a split.
    public static func makeVaultDatabase() async throws -> DatabaseURL {
        let url = try await SharedTestServer.shared.makeDatabase(template: nil)
        try await withClient(url) { client in _ = try await MigrationRunner.vault.migrate(on: client, logger: logger) }
        return url
    }

    /// `pg_dump` of the whole database, as text, run as the server's superuser (a backup
    /// taker's view). The password goes through the environment, never the arguments.
    public static func dump(_ database: DatabaseURL) async throws -> String {
        let base = try await SharedTestServer.shared.url()
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin/pg_dump" }
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/pg_dump" }
        guard let tool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw HubError(.postgresNotInstalled, "pg_dump not found in /usr/lib/postgresql/*/bin or PATH: apt-get install postgresql-client")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--host", base.host, "--port", "\(base.port)", "--username", base.username, "--no-password",
                             "--dbname", database.database]
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = base.password?.revealed
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HubError(.internalError, "pg_dump of \(database.database) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The first column of the first row of `sql`, as an integer (-1 when there is no row).
    public static func scalar(_ url: DatabaseURL, _ sql: String) async throws -> Int {
        try await withClient(url) { client in
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return value }
            return -1
        }
    }
}
