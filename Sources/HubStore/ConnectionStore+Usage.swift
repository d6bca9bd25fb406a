import Foundation
import HubCore
import HubDatabase
import PostgresNIO

extension ConnectionStore {
    /// The connector versions connections run, across tenants: what a change to a shared
    /// definition (a model) reaches.
    public func versionsInUse() async throws -> [(connector: String, version: Int)] {
        try await withDatabaseErrors("listing the connector versions in use") {
            var versions: [(String, Int)] = []
            for try await row in try await client.query(
                "SELECT DISTINCT connector_name, connector_version FROM connections ORDER BY connector_name, connector_version", logger: logger
            ).decode((String, Int).self) { versions.append(row) }
            return versions.map { (connector: $0.0, version: $0.1) }
        }
    }

    /// Every connection (of any tenant) on one connector version.
    public func connections(connector: String, version: Int) async throws -> [(id: UUID, tenant: TenantID)] {
        try await withDatabaseErrors("listing the connections of \(connector) v\(version)") {
            var connections: [(UUID, UUID)] = []
            for try await row in try await client.query(
                "SELECT id, tenant_id FROM connections WHERE connector_name = \(connector) AND connector_version = \(version) ORDER BY id", logger: logger
            ).decode((UUID, UUID).self) { connections.append(row) }
            return connections.map { (id: $0.0, tenant: TenantID($0.1)) }
        }
    }
}
