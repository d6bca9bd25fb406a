import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// A stream's saved state (`sync_state`), which commits with each batch on the batch's
/// connection, and the reads and scheduling of connections that syncs need. Runs, partitions
/// and attempts are `RunStore`'s; records are `RecordWriter`'s. (The connection reads and
/// scheduling here belong with `ConnectionStore`, once it can be built without a keyring.)
public struct SyncStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public struct ConnectionInfo: Sendable {
        public let id: UUID
        public let tenant: TenantID
        public let connector: String
        public let connectorVersion: Int
        public let config: JSONValue
        public let status: String
        public let scheduleSeconds: Int?
        public let externalAccount: String
    }

    public func connection(_ id: UUID, tenant: TenantID? = nil) async throws -> ConnectionInfo {
        let found = try await withDatabaseErrors("reading connection \(id)") { () -> ConnectionInfo? in
            let rows = try await client.query(
                """
                SELECT tenant_id, connector_name, connector_version, config::text, status, schedule_seconds, external_account
                FROM connections WHERE id = \(id) AND (\(tenant?.rawValue)::uuid IS NULL OR tenant_id = \(tenant?.rawValue))
                """,
                logger: logger
            )
            for try await row in rows.decode((UUID, String, Int, String, String, Int?, String).self) {
                guard let config = try? JSONDecoder().decode(JSONValue.self, from: Data(row.3.utf8)), case .object = config else {
                    throw HubError(.storedDataInvalid, "connection \(id)'s stored config is not a JSON object")
                }
                return ConnectionInfo(id: id, tenant: TenantID(row.0), connector: row.1, connectorVersion: row.2, config: config,
                                      status: row.4, scheduleSeconds: row.5, externalAccount: row.6)
            }
            return nil
        }
        guard let found else { throw HubError(.notFound, "connection \(id) not found") }
        return found
    }

    /// The stream's state, or one partition's (`partition` is its key; "" is the whole stream).
    public func state(connection: UUID, stream: String, partition: String = "") async throws -> JSONValue? {
        try await withDatabaseErrors("reading the state of stream \(stream)") {
            let rows = try await client.query(
                "SELECT state::text FROM sync_state WHERE connection_id = \(connection) AND stream = \(stream) AND partition = \(partition)",
                logger: logger
            )
            for try await text in rows.decode(String.self) {
                // Read as no state, a bad value would restart the stream from its beginning unnoticed.
                guard let state = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                    throw HubError(.storedDataInvalid, "the saved state of stream \(stream) of connection \(connection) does not decode")
                }
                return state
            }
            return nil
        }
    }

    /// Writes the stream's (or one partition's) state on the batch's connection.
    public func saveState(on database: PostgresConnection, tenant: TenantID, connection: UUID, stream: String,
                          partition: String = "", state: JSONValue) async throws {
        try await database.query(
            """
            INSERT INTO sync_state (tenant_id, connection_id, stream, partition, state, updated_at)
            VALUES (\(tenant.rawValue), \(connection), \(stream), \(partition), \(state.canonicalJSON)::jsonb, now())
            ON CONFLICT (connection_id, stream, partition) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
            """,
            logger: logger
        )
    }

    public func clearState(connection: UUID, stream: String) async throws {
        try await withDatabaseErrors("clearing the state of stream \(stream)") {
            try await client.query("DELETE FROM sync_state WHERE connection_id = \(connection) AND stream = \(stream)", logger: logger)
        }
    }
}

extension SyncStore {
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

    /// Pauses or resumes a connection; paused connections are not scheduled and their jobs stop.
    public func setStatus(connection: UUID, tenant: TenantID, status: String) async throws {
        try await withDatabaseErrors("updating connection \(connection)") {
            let rows = try await client.query(
                """
                UPDATE connections SET status = \(status), updated_at = now(),
                    next_sync_at = CASE WHEN \(status) = 'active' THEN NULL ELSE next_sync_at END
                WHERE id = \(connection) AND tenant_id = \(tenant.rawValue) RETURNING 1
                """,
                logger: logger
            )
            var found = false
            for try await _ in rows { found = true }
            if !found { throw HubError(.notFound, "connection \(connection) not found") }
        }
    }
}
