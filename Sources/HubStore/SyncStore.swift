import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// A stream's saved state (`sync_state`), which commits with each batch on the batch's
/// connection. Connections are `ConnectionStore`'s; runs, partitions and attempts are
/// `RunStore`'s; records are `RecordWriter`'s.
public struct SyncStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
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
