import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

// What syncs read of a connection, and its scheduling: the connection's settings as the sync
// job needs them, which connections are due, and when each next runs.

extension ConnectionStore {
    public struct ConnectionInfo: Sendable {
        public let id: UUID
        public let tenant: TenantID
        public let connector: String
        public let connectorVersion: Int
        public let config: JSONValue
        public let status: ConnectionStatus
        public let scheduleSeconds: Int?
        public let externalAccount: String
        /// The generation of credentials that goes with `config` (docs/vault.md, rule 3): what
        /// `credentials(for:)` insists on, so a config and credentials of two writes never meet.
        public let credentialsGeneration: UUID?
    }

    public func connection(_ id: UUID, tenant: TenantID? = nil) async throws -> ConnectionInfo {
        let found = try await withDatabaseErrors("reading connection \(id)") { () -> ConnectionInfo? in
            let rows = try await client.query(
                """
                SELECT tenant_id, connector_name, connector_version, config::text, status, schedule_seconds, external_account,
                       credentials_generation
                FROM connections WHERE id = \(id) AND (\(tenant?.rawValue)::uuid IS NULL OR tenant_id = \(tenant?.rawValue))
                """,
                logger: logger
            )
            for try await row in rows.decode((UUID, String, Int, String, String, Int?, String, UUID?).self) {
                guard let config = try? JSONDecoder().decode(JSONValue.self, from: Data(row.3.utf8)), case .object = config else {
                    throw HubError(.storedDataInvalid, "connection \(id)'s stored config is not a JSON object")
                }
                return ConnectionInfo(id: id, tenant: TenantID(row.0), connector: row.1, connectorVersion: row.2, config: config,
                                      status: try ConnectionStatus.stored(row.4, in: "connection \(id)"), scheduleSeconds: row.5,
                                      externalAccount: row.6, credentialsGeneration: row.7)
            }
            return nil
        }
        guard let found else { throw HubError(.notFound, "connection \(id) not found") }
        return found
    }
}

extension ConnectionStore {
    public struct DueConnection: Sendable {
        public let id: UUID
        public let tenant: TenantID
        public let connector: String
        public let connectorVersion: Int
        public let scheduleSeconds: Int?
    }

    /// Active connections whose next scheduled sync is due, oldest first.
    public func dueConnections(limit: Int) async throws -> [DueConnection] {
        try await withDatabaseErrors("finding connections due for a sync") {
            let rows = try await client.query(
                """
                SELECT id, tenant_id, connector_name, connector_version, schedule_seconds FROM connections
                WHERE status = 'active' AND (next_sync_at IS NULL OR next_sync_at <= now())
                ORDER BY next_sync_at NULLS FIRST LIMIT \(limit)
                """,
                logger: logger
            )
            var result: [DueConnection] = []
            for try await row in rows.decode((UUID, UUID, String, Int, Int?).self) {
                result.append(DueConnection(id: row.0, tenant: TenantID(row.1), connector: row.2, connectorVersion: row.3, scheduleSeconds: row.4))
            }
            return result
        }
    }

    /// Sets when the scheduler next syncs the connection (nil seconds: never, until changed).
    public func scheduleNext(connection: UUID, afterSeconds seconds: Int?) async throws {
        try await withDatabaseErrors("scheduling the next sync") {
            try await client.query(
                """
                UPDATE connections SET next_sync_at = CASE WHEN \(seconds)::int IS NULL THEN 'infinity'::timestamptz
                    ELSE now() + make_interval(secs => \(seconds)::int) END
                WHERE id = \(connection)
                """,
                logger: logger
            )
        }
    }

    /// Pauses or resumes a connection; paused connections are not scheduled and their jobs
    /// stop. The same statement as any update, so the `next_sync_at` rule lives in one place.
    public func setStatus(connection: UUID, tenant: TenantID, status: ConnectionStatus) async throws {
        guard try await update(tenant: tenant, connection: connection, config: nil, credentials: nil, status: status, scheduleSeconds: nil)
        else { throw HubError(.notFound, "connection \(connection) not found") }
    }
}
