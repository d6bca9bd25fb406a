import HubAPI
import HubAirbyteProcess
import HubCore
import HubCrypto
import HubDatabase
import HubEmbeddedPostgres
import HubQueue
import HubStore
import HubSync
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Builds and runs Tributary's processes: the one place `main` and the tests both call.
public enum HubRuntime {
    /// The process's metrics: the command line bootstraps swift-metrics with it, and the api
    /// role serves it at `/metrics`.
    public static let metrics = PrometheusCollectorRegistry()

    /// Runs `body` with the configured databases, or with the embedded PostgreSQL in the data
    /// folder when none is configured (whose vault is always a database of its own); the
    /// embedded server is stopped afterwards, also on error.
    ///
    /// The embedded server's databases are reached by two roles, each limited to its own
    /// database (`tributary_app`, `tributary_vault`); `administrator` gives the cluster's
    /// superuser instead for the main database, for `tributary db`'s psql sessions and tools.
    public static func withDatabase<T>(
        _ configuration: HubConfiguration, embedded: EmbeddedPostgresConfiguration? = nil, administrator: Bool = false, logger: Logger,
        isolation: isolated (any Actor)? = #isolation, _ body: (Databases) async throws -> T
    ) async throws -> T {
        if let url = configuration.databaseURL { return try await body(Databases(main: url, vault: configuration.vaultDatabaseURL)) }
        let server = EmbeddedPostgres(
            configuration: embedded ?? EmbeddedPostgresConfiguration(rootDirectory: configuration.dataDirectory), logger: logger
        )
        do {
            let superuser = try await server.start()
            let url = administrator ? superuser : try await server.applicationURL()
            let vault = try await server.vaultURL()
            let result = try await body(Databases(main: url, vault: vault))
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Applies pending migrations to the main database and, when there is one, the vault.
    /// With a vault, the main database's copies of the vault tables are dropped while they
    /// are empty; rows in them are moved first with `splitVault` (`migrate --split-vault`),
    /// and refused without it, since a process would no longer see them.
    public static func migrate(
        _ databases: Databases, dryRun: Bool, splitVault: Bool = false, kek: (any KeyEncryptionKeyProvider)? = nil, logger: Logger,
        progress: @escaping @Sendable (MigrationRunner.Event) -> Void,
        splitProgress: @escaping @Sendable (VaultSplit.Progress) -> Void = { _ in }
    ) async throws -> MigrationRunner.Report {
        try await PostgresClient.withRunning(databases.main, maximumConnections: 2, logger: logger) { main in
            let report = try await MigrationRunner().migrate(on: main, dryRun: dryRun, logger: logger, progress: progress)
            guard let vaultURL = databases.vault else {
                if splitVault { throw HubError(.invalidConfiguration, "--split-vault needs TRIBUTARY_VAULT_DATABASE_URL: the database to move the secrets to") }
                return report
            }
            return try await PostgresClient.withRunning(vaultURL, maximumConnections: 2, logger: logger) { vault in
                let vaultReport = try await MigrationRunner.vault.migrate(on: vault, dryRun: dryRun, logger: logger, progress: progress)
                let combined = MigrationRunner.Report(applied: report.applied + vaultReport.applied,
                                                      alreadyApplied: report.alreadyApplied + vaultReport.alreadyApplied)
                if dryRun { return combined }
                try await VaultSplit.pair(main: main, vault: vault, logger: logger)
                let held = try await VaultSplit.originals(in: main, logger: logger).filter { $0.value > 0 }
                if held.isEmpty {
                    try await VaultSplit.dropOriginals(in: main, logger: logger)
                } else if splitVault {
                    guard let kek else { throw HubError(.keyUnavailable, "--split-vault checks every key it moves: configure the master key") }
                    try await VaultSplit(main: main, vault: vault, kek: kek, logger: logger).run(progress: splitProgress)
                } else {
                    let list = held.sorted { $0.key < $1.key }.map { "\($0.value) rows in \($0.key)" }.joined(separator: ", ")
                    throw HubError(
                        .conflict,
                        "the main database holds secrets (\(list)) that belong in the vault; run `tributary migrate --split-vault` to move them"
                    )
                }
                return combined
            }
        }
    }

    /// Runs `roles` until SIGTERM or SIGINT, then drains them. Refuses to start on a schema
    /// that isn't exactly this binary's.
    public static func serve(
        roles: [Role], configuration: HubConfiguration, databases: Databases, logger: Logger,
        onAPIListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in },
        companions: (StoreContext) -> Companions = { _ in Companions() }
    ) async throws {
        let databaseURL = databases.main
        try await DatabaseProbe.check(databaseURL, logger: logger)
        let postgres = PostgresClient(
            configuration: databaseURL.clientConfiguration(maximumConnections: configuration.databaseMaxConnections,
                                                           session: configuration.databaseSessionLimits),
            backgroundLogger: logger
        )
        // Only the roles that read secrets connect to the vault: the scheduler never does.
        let vaultURL = roles.contains(.api) || roles.contains(.worker) ? databases.vault : nil
        if let vaultURL { try await DatabaseProbe.check(vaultURL, logger: logger) }
        let vaultClient = vaultURL.map {
            PostgresClient(
                configuration: $0.clientConfiguration(maximumConnections: max(4, configuration.databaseMaxConnections / 2),
                                                      session: configuration.databaseSessionLimits),
                backgroundLogger: logger
            )
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The clients run outside the service group so that they close last, after every
            // service that uses them has drained.
            await postgres.startRunning(in: &group)
            if let vaultClient { await vaultClient.startRunning(in: &group) }
            defer { group.cancelAll() }

            let status = try await MigrationRunner().status(on: postgres, logger: logger)
            if let refusal = status.refusal { throw refusal }
            if let vaultClient {
                let vaultStatus = try await MigrationRunner.vault.status(on: vaultClient, logger: logger)
                if let refusal = vaultStatus.refusal { throw refusal }
            }
            if roles != [.scheduler],
               let problem = try await VaultSplit.layoutProblem(main: postgres, vault: vaultClient, logger: logger)
            {
                throw problem
            }

            // The API decrypts for sensitive-scope keys and workers open credentials: both need the
            // master key. Without one they still run, and what needs a key fails with the key error.
            let kek: any KeyEncryptionKeyProvider
            do { kek = try MasterKey.load(configuration) } catch let error as HubError { kek = UnavailableKeyEncryptionKey(error: error) }
            let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: postgres, vault: vaultClient, logger: logger))
            let extra = companions(StoreContext(client: postgres, keyring: keyring, logger: logger, transport: configuration.transport,
                                                   runtimesDirectory: configuration.runtimesDirectory, egress: configuration.egress))
            // A group stops its services in reverse order: what the roles depend on goes first in
            // the list, so it stops last (a sync in flight never loses the API it reads).
            var services = extra.dependencies
            if roles.contains(.api) {
                var apiConfiguration = APIServer.Configuration(host: configuration.httpHost, port: configuration.httpPort,
                                                               rateLimit: configuration.apiRateLimit, rateBurst: configuration.apiRateLimit * 2,
                                                               metrics: metrics)
                apiConfiguration.metricsToken = configuration.metricsToken
                apiConfiguration.authFailureRate = configuration.apiAuthFailureLimit
                apiConfiguration.authFailureBurst = configuration.apiAuthFailureLimit * 10
                apiConfiguration.trustedProxies = configuration.trustedProxies
                // A process connector's check runs when a connection's config is set.
                apiConfiguration.processes = PythonEnvironments(root: configuration.runtimesDirectory, egress: configuration.egress,
                                                                 logger: logger)
                apiConfiguration.watchedDatabase = databaseURL
                apiConfiguration.knownQueues = configuration.workerQueues.map(\.name)
                let api = APIServer.build(
                    configuration: apiConfiguration,
                    postgres: postgres, keyring: keyring, logger: logger, onServerRunning: onAPIListening
                )
                services.append(.init(service: api, serviceName: "api"))
            }
            if roles.contains(.worker) {
                var handlers = MaintenanceJobs.handlers(client: postgres, keyring: keyring, retention: configuration.jobRetention,
                                                       policy: configuration.retention, logger: logger)
                let processes = PythonEnvironments(root: configuration.runtimesDirectory, egress: configuration.egress, logger: logger)
                handlers.merge(SyncJobs.handlers(client: postgres, keyring: keyring, logger: logger, transport: configuration.transport,
                                                 processes: processes)) { first, _ in first }
                let worker = WorkerPool(
                    client: postgres,
                    configuration: WorkerConfiguration(
                        // Sync jobs carry per-account limits, which the claim must honour.
                        queues: configuration.workerQueues.map { .init(name: $0.name, slots: $0.slots, grouped: $0.name == SyncJobs.queue) },
                        lease: configuration.jobLease, heartbeat: configuration.jobLease / 3,
                        gracePeriod: configuration.shutdownGracePeriod
                    ),
                    handlers: handlers,
                    logger: logger
                )
                services.append(.init(service: worker, serviceName: "worker"))
            }
            if roles.contains(.scheduler) {
                let scheduler = PeriodicScheduler(client: postgres, schedules: MaintenanceJobs.schedules + SyncJobs.schedules(every: configuration.syncScheduleInterval), logger: logger)
                services.append(.init(service: scheduler, serviceName: "scheduler"))
            }
            services += extra.dependents
            var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
            groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
            // The worker gives running jobs the grace period, then cancels and hands back the rest:
            // the group allows for that before it cancels, and ends the process if it must.
            groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod + .seconds(5)
            groupConfiguration.maximumCancellationDuration = .seconds(5)
            logger.info("starting", metadata: ["hub.roles": .array(roles.sorted().map { .string($0.rawValue) })])
            try await ServiceGroup(configuration: groupConfiguration).run()
            logger.info("stopped cleanly")
        }
    }
}

/// The databases a process works on.
public struct Databases: Sendable {
    /// Records, connections, runs, state, the queue.
    public var main: DatabaseURL
    /// Keys, credentials and the audit log; nil when they live in the main database.
    public var vault: DatabaseURL?

    public init(main: DatabaseURL, vault: DatabaseURL? = nil) {
        self.main = main
        self.vault = vault
    }
}

/// Services run beside the roles in one group (the demo's sample APIs and driver).
public struct Companions {
    /// Started with the roles and stopped after them: what the roles call.
    public var dependencies: [ServiceGroupConfiguration.ServiceConfiguration]
    /// Stopped before the roles: what calls them.
    public var dependents: [ServiceGroupConfiguration.ServiceConfiguration]

    public init(dependencies: [ServiceGroupConfiguration.ServiceConfiguration] = [],
                dependents: [ServiceGroupConfiguration.ServiceConfiguration] = []) {
        self.dependencies = dependencies
        self.dependents = dependents
    }
}
