import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// The sync role's job kinds and schedule, for the worker and scheduler to register.
public enum SyncJobs {
    public static let queue = SyncJobArguments.queue
    public static let streamKind = SyncJobArguments.kind
    public static let scheduleKind = "sync.schedule"

    public static func handlers(
        client: PostgresClient, keyring: Keyring, logger: Logger,
        transport: any HTTPTransport = AsyncHTTPTransport(), environment: EngineEnvironment = EngineEnvironment(),
        batchSize: Int = 1000, defaultSchedule: Duration? = nil, processes: (any ProcessCommandResolver)? = nil
    ) -> [String: JobHandler] {
        let catalog = ConnectorCatalog(store: ConnectorStore(client: client, logger: logger))
        let sync = StreamSync(client: client, keyring: keyring, catalog: catalog, transport: transport,
                              environment: environment, batchSize: batchSize, processes: processes, logger: logger)
        let service = SyncService(client: client, logger: logger)
        let webhooks = WebhookProcessor(client: client, keyring: keyring, catalog: catalog, logger: logger)
        let rederivation = UnifiedRederivation(client: client, keyring: keyring, catalog: catalog, logger: logger)
        return [
            UnifiedRederivation.kind: { context in try await rederivation.run(context) },
            streamKind: { context in try await sync.run(context) },
            WebhookIntake.processKind: { context in try await webhooks.run(context) },
            scheduleKind: { context in
                let count = try await service.enqueueDue(defaultSchedule: defaultSchedule)
                if count > 0 { context.logger.info("scheduled syncs", metadata: ["hub.sync.jobs": "\(count)"]) }
                return .completed
            },
        ]
    }

    /// Every `interval` (a minute by default) the scheduler looks for connections due a sync:
    /// a connection's schedule is kept to within that much.
    public static func schedules(every interval: Duration = .seconds(60)) -> [PeriodicSchedule] {
        [
            PeriodicSchedule(name: scheduleKind, every: interval) { _ in
                JobRequest(kind: scheduleKind, queue: queue, maxAttempts: 3, uniqueKey: scheduleKind)
            }
        ]
    }
}
