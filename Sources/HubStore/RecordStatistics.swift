import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// Counts over a tenant's stored records, none of which decrypts anything: how many live
/// records each stream holds, which records of two streams share a blind index (the same
/// person seen by two sources), how many carry sealed fields, and how many hold something
/// shaped like an email address in clear (which should be none).
public struct RecordStatistics: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Live (not deleted) records per stream of a connection, by stream name.
    public func liveCounts(tenant: TenantID, connection: UUID) async throws -> [(stream: String, count: Int)] {
        try await withDatabaseErrors("counting records") {
            let rows = try await client.query(
                """
                SELECT stream, count(*)::int FROM records
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection) AND deleted_at IS NULL
                GROUP BY stream ORDER BY stream
                """, logger: logger)
            var result: [(stream: String, count: Int)] = []
            for try await (stream, count) in rows.decode((String, Int).self) { result.append((stream, count)) }
            return result
        }
    }

    /// Pairs of live records, one from each stream, whose first blind index is equal (equal
    /// digests mean equal normalized values: the join compares HMACs, never plaintext). Returns
    /// the first pair by the left record's id, and how many pairs there are.
    public func firstSharedIndex(tenant: TenantID, left: (connection: UUID, stream: String), right: (connection: UUID, stream: String))
        async throws -> (left: String, right: String, total: Int)?
    {
        try await withDatabaseErrors("matching records by blind index") {
            let rows = try await client.query(
                """
                SELECT l.external_id, r.external_id, count(*) OVER ()::int
                FROM records l JOIN records r ON l.blind_index[1] = r.blind_index[1]
                WHERE l.tenant_id = \(tenant.rawValue) AND r.tenant_id = \(tenant.rawValue)
                  AND l.connection_id = \(left.connection) AND l.stream = \(left.stream) AND l.deleted_at IS NULL
                  AND r.connection_id = \(right.connection) AND r.stream = \(right.stream) AND r.deleted_at IS NULL
                ORDER BY l.external_id LIMIT 1
                """, logger: logger)
            for try await row in rows.decode((String, String, Int).self) { return (row.0, row.1, row.2) }
            return nil
        }
    }

    /// Records of the tenant with sealed fields.
    public func sealedCount(tenant: TenantID) async throws -> Int {
        try await scalar("SELECT count(*)::int FROM records WHERE tenant_id = \(tenant.rawValue) AND sensitive IS NOT NULL")
    }

    /// Records of the tenant whose clear columns hold anything shaped like an email address.
    public func plaintextEmailCount(tenant: TenantID) async throws -> Int {
        try await scalar(
            """
            SELECT count(*)::int FROM records
            WHERE tenant_id = \(tenant.rawValue) AND data::text ~* '[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}'
            """)
    }

    private func scalar(_ query: PostgresQuery) async throws -> Int {
        try await withDatabaseErrors("counting records") {
            for try await value in try await client.query(query, logger: logger).decode(Int.self) { return value }
            return 0
        }
    }
}
