import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubQueue
import HubStore
import HubSync
import Logging
import PostgresNIO

/// What an operator command needs to work on the store: a running client on a current
/// schema, and the keyring.
public struct StoreContext: Sendable {
    public let client: PostgresClient
    public let keyring: Keyring
    public let logger: Logger
    /// How syncs run from here reach third parties (the configuration's egress policy).
    public var transport = AsyncHTTPTransport()
    /// Where process connectors are installed, for syncs run from here.
    public var runtimesDirectory: String?
    /// The egress policy process connectors run under from here.
    public var egress: EgressPolicy?
    /// How process connectors run from here: installed under `runtimesDirectory`, behind `egress`.
    public var processes: PythonEnvironments? { runtimesDirectory.map { PythonEnvironments(root: $0, egress: egress, logger: logger) } }

    public var tenants: TenantStore { TenantStore(client: client, logger: logger) }
    public var keys: KeyAdministration { KeyAdministration(client: client, keyring: keyring, logger: logger) }
    public var connections: ConnectionStore { ConnectionStore(client: client, keyring: keyring, logger: logger) }
    public var jobs: JobQueue { JobQueue(client: client, logger: logger) }
    public var connectors: ConnectorStore { ConnectorStore(client: client, logger: logger) }
    public var models: ModelStore { ModelStore(client: client, logger: logger) }
    public var syncs: SyncStore { SyncStore(client: client, logger: logger) }
    public var runs: RunStore { RunStore(client: client, logger: logger) }
    public var syncService: SyncService { SyncService(client: client, logger: logger) }

    /// Runs a worker for the sync queue in this process until `body` returns: `tributary sync
    /// --local` needs no separate worker.
    public func withLocalSyncWorker<T: Sendable>(slots: Int = 4, _ body: @Sendable () async throws -> T) async throws -> T {
        let handlers = SyncJobs.handlers(client: client, keyring: keyring, logger: logger, transport: transport,
                                         processes: processes)
        let worker = WorkerPool(
            client: client, configuration: WorkerConfiguration(queues: [.init(name: SyncJobs.queue, slots: slots, grouped: true)]),
            handlers: handlers, logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}

extension HubRuntime {
    /// Runs `body` against the configured store; refuses a schema that isn't this binary's.
    ///
    /// With `secrets: false` the vault is neither opened nor required: for commands that touch
    /// no key, credential or audit entry, which then run with the main database alone.
    public static func withStore<T>(
        _ configuration: HubConfiguration, secrets: Bool = true, logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (StoreContext) async throws -> T
    ) async throws -> T {
        let kek: any KeyEncryptionKeyProvider
        do {
            kek = try MasterKey.load(configuration)
        } catch let error as HubError {
            kek = UnavailableKeyEncryptionKey(error: error)
        }
        return try await withDatabase(configuration, logger: logger) { databases in
            try await PostgresClient.withRunning(databases.main, maximumConnections: 4, logger: logger) { client in
                let status = try await MigrationRunner().status(on: client, logger: logger)
                if let refusal = status.refusal { throw refusal }
                guard secrets, let vaultURL = databases.vault else {
                    if secrets, let problem = try await VaultSplit.layoutProblem(main: client, vault: nil, logger: logger) {
                        throw problem
                    }
                    let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: client, logger: logger))
                    return try await body(StoreContext(client: client, keyring: keyring, logger: logger, transport: configuration.transport,
                                                     runtimesDirectory: configuration.runtimesDirectory, egress: configuration.egress))
                }
                return try await PostgresClient.withRunning(vaultURL, maximumConnections: 4, logger: logger) { vault in
                    let vaultStatus = try await MigrationRunner.vault.status(on: vault, logger: logger)
                    if let refusal = vaultStatus.refusal { throw refusal }
                    if let problem = try await VaultSplit.layoutProblem(main: client, vault: vault, logger: logger) { throw problem }
                    let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
                    return try await body(StoreContext(client: client, keyring: keyring, logger: logger, transport: configuration.transport,
                                                     runtimesDirectory: configuration.runtimesDirectory, egress: configuration.egress))
                }
            }
        }
    }
}
