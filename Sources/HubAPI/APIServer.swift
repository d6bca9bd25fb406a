import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubGraphQL
import HubStore
import HubSync
import Hummingbird
import Logging
import PostgresNIO
import Prometheus

/// The `api` role: Tributary's HTTP server.
public enum APIServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Requests a second per API key (token bucket), and the burst allowed.
        public var rateLimit: Double
        public var rateBurst: Double
        /// Where request metrics go and `/metrics` reads; the process-wide one when bootstrapped.
        public var metrics: PrometheusCollectorRegistry
        /// How long a connection may sit with no request before it is closed, so clients that
        /// connect and go quiet cannot hold sockets forever. Longer than the 60 s idle timeout
        /// of common load balancers (AWS ALB, GCP), which must close first to avoid 502s.
        public var idleTimeout: Duration = .seconds(75)
        /// When set, `/metrics` requires it as a bearer token.
        public var metricsToken: Secret<String>?
        /// Requests with a missing or unknown key allowed per client address: this many a
        /// second on average, bursts of `authFailureBurst`; past it, 429 before any lookup.
        public var authFailureRate: Double = 10
        public var authFailureBurst: Double = 100
        /// The largest request body any route reads (webhooks have their connector's own).
        public var maxRequestBodyBytes = RequestBody.defaultLimit
        /// Proxies whose `X-Forwarded-For` names the client (`TRIBUTARY_TRUSTED_PROXIES`).
        public var trustedProxies: [IPRange] = []
        /// The database to watch on a connection of its own: while it does not answer,
        /// `/v1/…` requests get 503 with `Retry-After` instead of waiting. nil watches nothing.
        public var watchedDatabase: DatabaseURL?
        /// Queues reported on `/metrics` even when idle (the worker pools' queues), so an
        /// autoscaler sees 0, not a missing series.
        public var knownQueues: [String] = []
        /// Where a process connector's `check` gets its command when a connection's config is set.
        public var processes: (any ProcessCommandResolver)?

        public init(host: String, port: Int, rateLimit: Double = 50, rateBurst: Double = 100,
                    metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
            self.host = host
            self.port = port
            self.rateLimit = rateLimit
            self.rateBurst = rateBurst
            self.metrics = metrics
        }
    }

    /// Builds the HTTP application as a `Service`; the caller runs it in its service group
    /// after the PostgreSQL client, so the database closes last.
    public static func build(
        configuration: Configuration, postgres: PostgresClient, keyring: Keyring, logger: Logger,
        onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: MetricsMiddleware(registry: configuration.metrics))
        router.add(middleware: ProblemMiddleware())
        HealthController(readiness: DatabaseReadiness(client: postgres, logger: logger)).addRoutes(to: router)
        MetricsController(registry: configuration.metrics, client: postgres, token: configuration.metricsToken,
                          knownQueues: configuration.knownQueues, logger: logger)
            .addRoutes(to: router)
        DocsController().addRoutes(to: router)
        // Registered versions never change: each is parsed once per process.
        let catalog = ConnectorCatalog(store: ConnectorStore(client: postgres, logger: logger))
        // Webhooks carry a provider's signature, not an API key: their group has no key check.
        let webhooks = WebhooksController(intake: WebhookIntake(client: postgres, keyring: keyring, catalog: catalog, logger: logger),
                                          client: postgres, keyring: keyring, logger: logger)
        webhooks.addRoutes(to: router.group("/v1"))
        // `/v1` and `/graphql` check keys alike, and share the buckets: a key's rate is one.
        let authentication = AuthenticationMiddleware(keys: ApiKeyStore(client: postgres, logger: logger),
                                                      failures: RateLimiter(rate: configuration.authFailureRate, burst: configuration.authFailureBurst),
                                                      trustedProxies: configuration.trustedProxies)
        let rateLimit = RateLimitMiddleware(limiter: RateLimiter(rate: configuration.rateLimit, burst: configuration.rateBurst))
        let v1 = router.group("/v1").add(middleware: authentication).add(middleware: rateLimit)
        let body = RequestBody(limit: configuration.maxRequestBodyBytes)
        GraphQLController(gateway: GraphQLGateway(client: postgres, keyring: keyring, logger: logger), body: body)
            .addRoutes(to: router.group("/graphql").add(middleware: authentication).add(middleware: rateLimit))
        RecordsController(client: postgres, keyring: keyring, logger: logger, definitions: catalog).addRoutes(to: v1)
        ConnectionsController(client: postgres, keyring: keyring, logger: logger, definitions: catalog,
                              processes: configuration.processes, body: body).addRoutes(to: v1)
        ConnectorsController(client: postgres, logger: logger, body: body).addRoutes(to: v1)
        ModelsController(client: postgres, logger: logger, body: body, catalog: catalog).addRoutes(to: v1)
        UnifiedController(client: postgres, keyring: keyring, logger: logger, models: ModelCache(client: postgres, logger: logger)).addRoutes(to: v1)
        TenantsController(client: postgres, logger: logger, body: body).addRoutes(to: v1)
        JobsController(client: postgres, logger: logger).addRoutes(to: v1)
        webhooks.addTenantRoutes(to: v1)
        let watch = configuration.watchedDatabase.map { DatabaseWatch(url: $0, logger: logger) }
        return Application(
            responder: DatabaseGuardResponder(inner: router.buildResponder(), watch: watch, pollInterval: .milliseconds(250)),
            server: .http1(configuration: .init(idleTimeout: .nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tributary"),
            services: watch.map { [$0] } ?? [],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }
}
