import Foundation
import HubCore
import HubDatabase
import PostgresNIO

extension EntityReader {
    /// One entry of the change feed: an entity that changed, was merged into another, or lost
    /// its last source.
    public struct Change: Sendable {
        public let id: UUID
        public let changeSequence: Int64
        public let changedAt: Date
        /// The entity it was merged into; nil while it stands on its own.
        public let mergedInto: UUID?
        /// Whether any source is left (false: every source record left it, or was deleted).
        public let hasSources: Bool
    }

    /// The tenant's entities of `model` changed after `after`, in change order, merged and
    /// emptied ones included. A change shows once no transaction older than it is running:
    /// one that drew a lower sequence and has not committed yet would otherwise be skipped.
    public func changes(tenant: TenantID, model: String, after: Int64?, limit: Int) async throws -> [Change] {
        try await withDatabaseErrors("reading the \(model) change feed") {
            var changes: [Change] = []
            for try await row in try await client.query(
                """
                SELECT e.id, e.change_seq, e.updated_at, e.merged_into,
                       EXISTS (SELECT 1 FROM unified_sources s WHERE s.entity_id = e.id)
                FROM unified_entities e
                WHERE e.tenant_id = \(tenant.rawValue) AND e.model = \(model) AND e.change_seq > \(after ?? 0)
                  AND e.change_xid < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY e.change_seq LIMIT \(limit)
                """,
                logger: logger
            ).decode((UUID, Int64, Date, UUID?, Bool).self) {
                changes.append(Change(id: row.0, changeSequence: row.1, changedAt: row.2, mergedInto: row.3, hasSources: row.4))
            }
            return changes
        }
    }
}

extension EntityReader {
    /// The (stream, model) pairs a connection's records are linked into.
    public func linkedStreams(tenant: TenantID, connection: UUID) async throws -> [(stream: String, model: String)] {
        try await withDatabaseErrors("listing the linked streams of connection \(connection)") {
            var pairs: [(String, String)] = []
            for try await row in try await client.query(
                """
                SELECT DISTINCT stream, model FROM unified_sources
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection) ORDER BY stream, model
                """,
                logger: logger
            ).decode((String, String).self) { pairs.append(row) }
            return pairs.map { (stream: $0.0, model: $0.1) }
        }
    }

    /// Up to `limit` external ids of a stream's records linked into `model`, in order.
    public func linkedExternalIDs(tenant: TenantID, connection: UUID, stream: String, model: String, limit: Int) async throws -> [String] {
        try await withDatabaseErrors("listing linked \(model) sources of stream \(stream)") {
            var ids: [String] = []
            for try await id in try await client.query(
                """
                SELECT external_id FROM unified_sources
                WHERE connection_id = \(connection) AND stream = \(stream) AND model = \(model) AND tenant_id = \(tenant.rawValue)
                ORDER BY external_id LIMIT \(limit)
                """,
                logger: logger
            ).decode(String.self) { ids.append(id) }
            return ids
        }
    }
}
