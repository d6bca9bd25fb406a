import HubCore
import HubCrypto
import HubStore
import Hummingbird
import Logging
import PostgresNIO

/// The `api` role: Tributary's HTTP server.
public enum APIServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// Builds the HTTP application as a `Service`; the caller runs it in its service group
    /// after the PostgreSQL client, so the database closes last.
    public static func build(
        configuration: Configuration, postgres: PostgresClient, keyring: Keyring, logger: Logger,
        onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        HealthController(readiness: DatabaseReadiness(client: postgres, logger: logger)).addRoutes(to: router)
        let v1 = router.group("/v1").add(middleware: AuthenticationMiddleware(keys: ApiKeyStore(client: postgres, logger: logger)))
        RecordsController(client: postgres, keyring: keyring, logger: logger).addRoutes(to: v1)
        ConnectionsController(client: postgres, keyring: keyring, logger: logger).addRoutes(to: v1)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tributary"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }
}
