import HubAPI
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

    /// Runs `body` with the configured database, or with the embedded PostgreSQL in the data
    /// folder when none is configured; the embedded server is stopped afterwards, also on error.
    public static func withDatabase<T>(
        _ configuration: HubConfiguration, embedded: EmbeddedPostgresConfiguration? = nil, logger: Logger,
        isolation: isolated (any Actor)? = #isolation, _ body: (DatabaseURL) async throws -> T
    ) async throws -> T {
        if let url = configuration.databaseURL { return try await body(url) }
        let server = EmbeddedPostgres(
            configuration: embedded ?? EmbeddedPostgresConfiguration(rootDirectory: configuration.dataDirectory), logger: logger
        )
        let url = try await server.start()
        do {
            let result = try await body(url)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Applies pending migrations.
    public static func migrate(
        _ url: DatabaseURL, dryRun: Bool, logger: Logger, progress: @escaping @Sendable (MigrationRunner.Event) -> Void
    ) async throws -> MigrationRunner.Report {
        try await PostgresClient.withRunning(url, maximumConnections: 1, logger: logger) { client in
            try await MigrationRunner().migrate(on: client, dryRun: dryRun, logger: logger, progress: progress)
        }
    }

    /// Runs `roles` until SIGTERM or SIGINT, then drains them. Refuses to start on a schema
    /// that isn't exactly this binary's.
    public static func serve(
        roles: [Role], configuration: HubConfiguration, databaseURL: DatabaseURL, logger: Logger,
        onAPIListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in },
        companions: (StoreContext) -> Companions = { _ in Companions() }
    ) async throws {
        try await DatabaseProbe.check(databaseURL, logger: logger)
        let postgres = PostgresClient(
            configuration: databaseURL.clientConfiguration(maximumConnections: configuration.databaseMaxConnections,
                                                           session: configuration.databaseSessionLimits),
            backgroundLogger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The client runs outside the service group so that it closes last, after every
            // service that uses it has drained.
            await postgres.startRunning(in: &group)
            defer { group.cancelAll() }

            let status = try await MigrationRunner().status(on: postgres, logger: logger)
            if let refusal = status.refusal { throw refusal }

            // The API decrypts for sensitive-scope keys and workers open credentials: both need the
            // master key. Without one they still run, and what needs a key fails with the key error.
            let kek: any KeyEncryptionKeyProvider
            do { kek = try MasterKey.load(configuration) } catch let error as HubError { kek = UnavailableKeyEncryptionKey(error: error) }
            let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: postgres, logger: logger))
            let extra = companions(StoreContext(client: postgres, keyring: keyring, logger: logger, transport: configuration.transport))
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
                handlers.merge(SyncJobs.handlers(client: postgres, keyring: keyring, logger: logger, transport: configuration.transport)) { first, _ in first }
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
