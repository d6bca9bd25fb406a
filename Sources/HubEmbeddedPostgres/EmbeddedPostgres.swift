import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server that Tributary initializes, starts and stops itself, in a local folder:
/// what `tributary dev`, `demo` and the test suite use when no database URL is configured.
///
/// A second start reuses the cluster; a `postmaster.pid` left by a crash is recognised and
/// removed; a server another Tributary process already runs on the same folder is shared, not
/// started twice. A watchdog stops the server if this process dies without stopping it.
public actor EmbeddedPostgres {
    enum State {
        case stopped
        case owned(server: ChildProcess, watchdog: Watchdog, url: DatabaseURL)
        case attached(url: DatabaseURL)
    }

    public nonisolated let configuration: EmbeddedPostgresConfiguration
    let logger: Logger
    var state: State = .stopped
    /// The folder holding the cluster (`pg/`): the data folder, unless the server's account
    /// cannot reach it (see `chooseServerDirectory`).
    var serverDirectory: String

    var clusterDirectory: String { serverDirectory + "/pg" }

    public init(configuration: EmbeddedPostgresConfiguration, logger: Logger) {
        var configuration = configuration
        configuration.rootDirectory = absolutePath(configuration.rootDirectory)
        self.configuration = configuration
        self.serverDirectory = configuration.rootDirectory
        self.logger = logger
    }

    /// The server's pid while this process runs it; nil when stopped or shared.
    public var serverPID: Int32? {
        if case .owned(let server, _, _) = state { return server.pid }
        return nil
    }

    /// Starts (or joins) the server and returns the URL of Tributary's database in it.
    public func start() async throws -> DatabaseURL {
        switch state {
        case .owned(_, _, let url), .attached(let url): return url
        case .stopped: break
        }
        let account = try ServerAccount.forServer(preferredName: configuration.serverUser)
        try await chooseServerDirectory(account: account)
        try prepareDirectories(account: account)
        // Two processes starting on one folder at once: the second waits, then joins the first's server.
        return try await withFileLock(path: configuration.lockFile) {
            try await startLocked(account: account)
        }
    }

    private func startLocked(account: ServerAccount?) async throws -> DatabaseURL {
        let cluster = clusterDirectory
        let existingMajor = (try? String(contentsOfFile: cluster + "/PG_VERSION", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let binaries = try PostgresBinaries.locate(
            path: configuration.searchPath ?? ProcessInfo.processInfo.environment["PATH"], preferredMajor: existingMajor
        )
        if let existingMajor, let found = binaries.majorVersion, found != existingMajor {
            throw HubError(
                .embeddedPostgres,
                "the cluster in \(cluster) was made by PostgreSQL \(existingMajor) but only PostgreSQL \(found) is installed: install postgresql-\(existingMajor), or remove \(configuration.rootDirectory) to start over"
            )
        }
        if existingMajor == nil {
            try await initializeCluster(binaries: binaries, account: account)
        }
        let password = try readPassword()

        if let pidFile = PostmasterPIDFile.read(dataDirectory: cluster) {
            if pidFile.isLiveServer(for: cluster), let port = pidFile.port {
                let url = databaseURL(port: port, password: password)
                logger.info("joining the embedded PostgreSQL another process runs", metadata: ["hub.pg.pid": "\(pidFile.pid)"])
                try await ensureDatabase(url)
                state = .attached(url: url)
                return url
            }
            // Left by a crash: PostgreSQL would refuse to start while it names a live process.
            logger.notice("removing stale postmaster.pid", metadata: ["hub.pg.stale_pid": "\(pidFile.pid)"])
            unlink(PostmasterPIDFile.path(in: cluster))
        }

        // An explicit port, else the one the previous start used: whatever was configured with
        // the server's URL (a role, a psql session, a benchmark) reconnects after a restart.
        let remembered = configuration.port == nil ? rememberedPort() : nil
        var lastError: (any Error)?
        for attempt in 0..<3 {
            let port = try configuration.port ?? (attempt == 0 ? remembered : nil) ?? freeLoopbackPort()
            do {
                let server = try await launch(binaries: binaries, account: account, port: port)
                let url = databaseURL(port: port, password: password)
                let watchdog = try startWatchdog(serverPID: server.pid)
                state = .owned(server: server, watchdog: watchdog, url: url)
                try await ensureDatabase(url)
                rememberPort(port)
                logger.info("embedded PostgreSQL started", metadata: ["hub.pg.port": "\(port)", "hub.pg.pid": "\(server.pid)"])
                return url
            } catch let error as PortInUse {
                lastError = error
                if configuration.port != nil { break }
                if attempt == 0, let remembered {
                    logger.warning(
                        "the port the embedded PostgreSQL used before is taken; moving to another, so URLs saved before this start no longer reach it",
                        metadata: ["hub.pg.port": "\(remembered)"]
                    )
                }
            }
        }
        throw HubError(.embeddedPostgres, "cannot start PostgreSQL: \(lastError.map { "\($0)" } ?? "unknown error")")
    }

    /// The port written by the last successful start, if it is a valid one.
    private func rememberedPort() -> Int? {
        guard let text = try? String(contentsOfFile: configuration.portFile, encoding: .utf8),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), (1024...65535).contains(port)
        else { return nil }
        return port
    }

    private func rememberPort(_ port: Int) {
        do {
            try "\(port)\n".write(toFile: configuration.portFile, atomically: true, encoding: .utf8)
        } catch {
            logger.warning("cannot remember the embedded PostgreSQL's port; the next start may pick another", metadata: ["hub.error": "\(error)"])
        }
    }

    /// Stops the server if this process started it; a shared one keeps running for its owner.
    public func stop() async {
        guard case .owned(let server, let watchdog, _) = state else {
            state = .stopped
            return
        }
        state = .stopped
        // SIGINT is PostgreSQL's fast shutdown: roll back open transactions, checkpoint, exit.
        server.signal(SIGINT)
        if await !server.waitForExit(timeout: .seconds(20)) {
            logger.warning("PostgreSQL did not stop within 20 s; sending SIGQUIT")
            server.signal(SIGQUIT)
            if await !server.waitForExit(timeout: .seconds(5)) {
                server.signal(SIGKILL)
                _ = await server.waitForExit(timeout: .seconds(5))
            }
        }
        await watchdog.dismiss()
        logger.info("embedded PostgreSQL stopped", metadata: ["hub.pg.pid": "\(server.pid)"])
    }

    func databaseURL(port: Int, password: Secret<String>) -> DatabaseURL {
        DatabaseURL(
            host: "127.0.0.1", port: port, username: "tributary", password: password,
            database: configuration.database, sslMode: .disable
        )
    }

    /// Tributary's database as its application role, `tributary_app`: a login role that owns the
    /// database and everything in it but is no superuser, so it can connect to nothing else
    /// (the vault's `CONNECT` is revoked from `PUBLIC`). A cluster made before this role
    /// existed has its database and objects handed over on the first call. The password is
    /// generated once into `app-password`. The superuser (`start`'s URL) stays for
    /// administration: `tributary db`, the tests' server. Call after `start`.
    public func applicationURL() async throws -> DatabaseURL {
        let main = try runningURL()
        let password = try rolePassword(file: "app-password")
        let name = configuration.database
        try await PostgresClient.withRunning(main.withDatabase("postgres"), maximumConnections: 1, logger: logger) { client in
            try await DatabaseAdmin.createPrivateDatabase(name, owner: "tributary_app", password: Secret(password), on: client, logger: logger)
            // Nor the cluster's own databases: the two roles reach their database and nothing else.
            try await withDatabaseErrors("limiting the cluster's own databases") {
                _ = try await client.query("REVOKE CONNECT, TEMPORARY ON DATABASE postgres, template1 FROM PUBLIC", logger: logger)
            }
        }
        try await PostgresClient.withRunning(main, maximumConnections: 1, logger: logger) { client in
            try await withDatabaseErrors("handing database \(name) to role tributary_app") {
                _ = try await client.query(PostgresQuery(unsafeSQL: Self.handOver), logger: logger)
            }
        }
        var url = main
        url.username = "tributary_app"
        url.password = Secret(password)
        return url
    }

    /// Gives `tributary_app` every relation of the public schema it doesn't own yet (a
    /// sequence owned by a column moves with its table). Idempotent.
    static let handOver = """
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT c.oid, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                       AND pg_get_userbyid(c.relowner) <> 'tributary_app'
                     ORDER BY c.relkind <> 'S' DESC
            LOOP
                CONTINUE WHEN r.relkind = 'S' AND EXISTS (
                    SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid AND d.deptype IN ('a', 'i'));
                EXECUTE format('ALTER %s public.%I OWNER TO tributary_app',
                               CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                               r.relname);
            END LOOP;
        END
        $$
        """

    private func runningURL() throws -> DatabaseURL {
        switch state {
        case .owned(_, _, let url), .attached(let url): return url
        case .stopped: throw HubError(.embeddedPostgres, "the embedded PostgreSQL is not running")
        }
    }

    /// A role's password, generated into `file` in the data folder (0600) the first time.
    private func rolePassword(file: String) throws -> String {
        let path = configuration.rootDirectory + "/" + file
        if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let password = randomPassword()
        try writePrivateFile(path, contents: password, owner: nil)
        return password
    }

    /// The vault database beside Tributary's (docs/vault.md): `<database>_vault`, owned by the
    /// login role `tributary_vault`, which may connect to nothing else; no other role but the
    /// cluster's superuser may connect to it. Its password is generated once into
    /// `vault-password` beside the superuser's. Call after `start`.
    public func vaultURL() async throws -> DatabaseURL {
        let main = try runningURL()
        let password = try rolePassword(file: "vault-password")
        let name = configuration.database + "_vault"
        try await PostgresClient.withRunning(main.withDatabase("postgres"), maximumConnections: 1, logger: logger) { client in
            try await DatabaseAdmin.createPrivateDatabase(name, owner: "tributary_vault", password: Secret(password), on: client, logger: logger)
            // The vault's role must not reach the records either.
            try await withDatabaseErrors("limiting database \(configuration.database)") {
                try await client.query(
                    PostgresQuery(unsafeSQL: "REVOKE CONNECT, TEMPORARY ON DATABASE \(configuration.database) FROM PUBLIC"), logger: logger
                )
            }
        }
        var url = main.withDatabase(name)
        url.username = "tributary_vault"
        url.password = Secret(password)
        return url
    }

    private func ensureDatabase(_ url: DatabaseURL) async throws {
        try await PostgresClient.withRunning(url.withDatabase("postgres"), maximumConnections: 1, logger: logger) { client in
            try await DatabaseAdmin.createDatabaseIfMissing(configuration.database, on: client, logger: logger)
        }
    }
}

/// The watchdog shell and the write end of its lifeline pipe.
struct Watchdog: Sendable {
    let shell: ChildProcess
    let lifeline: Int32

    /// Ends the watchdog without it signalling anyone: the server already stopped.
    func dismiss() async {
        shell.signal(SIGTERM)
        _ = await shell.waitForExit(timeout: .seconds(2))
        close(lifeline)
    }
}

struct PortInUse: Error, CustomStringConvertible {
    let port: Int
    var description: String { "port \(port) is already in use" }
}

func absolutePath(_ path: String) -> String {
    let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    return url.standardizedFileURL.path
}
