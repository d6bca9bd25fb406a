import Foundation
import HubConnectors
import HubCore
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// Queues `unified.rederive` jobs when what derives unified data changes: a model's new
/// version (every connection whose connector version maps into it), or one connection's
/// connector version or config. The CLI and the API call it after the change commits.
public struct RederivationService: Sendable {
    let client: PostgresClient
    let catalog: ConnectorCatalog
    let logger: Logger

    public init(client: PostgresClient, catalog: ConnectorCatalog, logger: Logger) {
        self.client = client
        self.catalog = catalog
        self.logger = logger
    }

    /// After model `name` got a new version: one job per connection that maps into it.
    /// Returns how many were queued.
    @discardableResult
    public func modelChanged(_ name: String) async throws -> Int {
        let connections = ConnectionStore(client: client, logger: logger)
        var requests: [JobRequest] = []
        for (connector, version) in try await connections.versionsInUse() {
            // A version that no longer loads is the sync's to report; it maps nothing here.
            guard let definition = try? await catalog.definition(name: connector, version: version),
                  definition.mappedModels.contains(name) else { continue }
            for (id, tenant) in try await connections.connections(connector: connector, version: version) {
                requests.append(UnifiedRederivation.request(tenant: tenant, connection: id))
            }
        }
        let queue = JobQueue(client: client, logger: logger)
        for request in requests { _ = try await queue.enqueue(request) }
        return requests.count
    }

    /// After a connection's connector version or config changed: queues its job when either the
    /// old or the new version maps anything (`previous` is the version before the change).
    /// Returns whether it was queued.
    @discardableResult
    public func connectionChanged(tenant: TenantID, connection: UUID, previousVersion: Int) async throws -> Bool {
        let info = try await ConnectionStore(client: client, logger: logger).connection(connection, tenant: tenant)
        let before = try? await catalog.definition(name: info.connector, version: previousVersion)
        let after = try await catalog.definition(name: info.connector, version: info.connectorVersion)
        guard !(before?.mappedModels.isEmpty ?? true) || !after.mappedModels.isEmpty else { return false }
        _ = try await JobQueue(client: client, logger: logger).enqueue(UnifiedRederivation.request(tenant: tenant, connection: connection))
        return true
    }
}
