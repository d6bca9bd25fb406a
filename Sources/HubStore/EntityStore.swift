import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Unified entities and their sources (`unified_entities`, `unified_sources`): which records
/// of which connections are one person or company. Linking runs in the transaction that writes
/// the records, on blind indexes only: no plaintext is needed to find that two sources share an
/// email.
public struct EntityStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// One mapped record, sealed and indexed (`RecordProtector` over the model's policy).
    public struct SourceInput: Sendable {
        public let connection: UUID
        public let stream: String
        public let externalID: String
        public let connector: String
        public let protected: ProtectedRecord
        public let sourceUpdatedAt: Date?

        public init(connection: UUID, stream: String, externalID: String, connector: String, protected: ProtectedRecord, sourceUpdatedAt: Date?) {
            self.connection = connection
            self.stream = stream
            self.externalID = externalID
            self.connector = connector
            self.protected = protected
            self.sourceUpdatedAt = sourceUpdatedAt
        }
    }

    /// Links each source to an entity of `model`: the entity of any other source sharing one
    /// of its identity keys (several such entities are merged into the oldest, whose id
    /// survives; the others point at it), else its own entity. A source whose keys changed
    /// leaves an entity it no longer connects to, and an entity whose last bridge went is split
    /// into the groups its remaining sources form. Returns the entities changed.
    ///
    /// Concurrent linkers of one tenant's model (two workers writing two sources of one person)
    /// are serialized by a transaction-scoped advisory lock on the tenant and model.
    @discardableResult
    public func link(on database: PostgresConnection, tenant: TenantID, model: String, sources: [SourceInput]) async throws -> Int {
        guard !sources.isEmpty else { return 0 }
        return try await withDatabaseErrors("linking \(sources.count) \(model) sources") {
            // One lock per tenant and model, not one per key: a batch of a thousand records
            // holds two thousand keys, and every advisory lock a transaction holds takes a slot
            // of PostgreSQL's shared lock table (64 per connection by default): four workers
            // linking at once would run it out ("out of shared memory"). Linking is the short
            // tail of a batch's transaction, so serializing one tenant's model costs little, and
            // other tenants and models link side by side.
            try await database.query(
                "SELECT pg_advisory_xact_lock(hashtextextended('unified:' || \(tenant.description) || ':' || \(model), 0))",
                logger: logger
            )
            let changedCount: Int
            if let changed = try await linkBatch(sources, on: database, tenant: tenant, model: model) {
                changedCount = changed
            } else {
                var changed = Set<UUID>()
                for source in sources {
                    changed.formUnion(try await link(source, on: database, tenant: tenant, model: model))
                }
                changedCount = changed.count
            }
            return changedCount
        }
    }

    private func link(_ source: SourceInput, on database: PostgresConnection, tenant: TenantID, model: String) async throws -> Set<UUID> {
        let identity = source.protected.blindIndex.map { ByteBuffer(bytes: $0) }
        var previous: (entity: UUID, identity: Set<[UInt8]>)?
        for try await (entity, keys) in try await database.query(
            """
            SELECT entity_id, identity FROM unified_sources
            WHERE connection_id = \(source.connection) AND stream = \(source.stream) AND external_id = \(source.externalID) AND model = \(model)
            """,
            logger: logger
        ).decode((UUID, [ByteBuffer]).self) {
            previous = (entity, Set(keys.map { Array($0.readableBytesView) }))
        }
        var candidates: [UUID] = []
        if !identity.isEmpty {
            for try await entity in try await database.query(
                """
                SELECT s.entity_id FROM unified_sources s JOIN unified_entities e ON e.id = s.entity_id
                WHERE s.tenant_id = \(tenant.rawValue) AND s.model = \(model) AND s.identity && \(identity)::bytea[]
                  AND NOT (s.connection_id = \(source.connection) AND s.stream = \(source.stream) AND s.external_id = \(source.externalID))
                GROUP BY s.entity_id, e.created_at ORDER BY e.created_at, s.entity_id
                """,
                logger: logger
            ).decode(UUID.self) {
                candidates.append(entity)
            }
        }
        var changed = Set<UUID>()
        let target: UUID
        if let survivor = candidates.first {
            target = survivor
            let others = Array(candidates.dropFirst())
            if !others.isEmpty {
                // A bridging record: every other entity it reaches joins the oldest.
                try await database.query("UPDATE unified_sources SET entity_id = \(survivor) WHERE entity_id = ANY(\(others))", logger: logger)
                try await database.query(
                    """
                    UPDATE unified_entities SET merged_into = \(survivor), change_seq = nextval('unified_change_seq'), change_xid = pg_current_xact_id(), updated_at = now()
                    WHERE id = ANY(\(others)) OR merged_into = ANY(\(others))
                    """,
                    logger: logger
                )
                changed.formUnion(others)
            }
        } else if let previous, try await otherSources(of: previous.entity, than: source, model: model, on: database) == 0 {
            target = previous.entity  // alone in its entity: it keeps it
        } else {
            target = UUID()
            try await database.query(
                "INSERT INTO unified_entities (id, tenant_id, model) VALUES (\(target), \(tenant.rawValue), \(model))", logger: logger
            )
        }
        try await database.query(
            """
            INSERT INTO unified_sources (tenant_id, model, connection_id, stream, external_id, connector, entity_id, data, sensitive,
                                         key_version, identity, source_updated_at)
            VALUES (\(tenant.rawValue), \(model), \(source.connection), \(source.stream), \(source.externalID), \(source.connector), \(target),
                    \(String(decoding: source.protected.plainJSON, as: UTF8.self))::jsonb, \(source.protected.sensitive.map { ByteBuffer(bytes: $0) }),
                    \(source.protected.keyVersion), \(identity)::bytea[], \(source.sourceUpdatedAt))
            ON CONFLICT (connection_id, stream, external_id, model) DO UPDATE SET
                entity_id = excluded.entity_id, data = excluded.data, sensitive = excluded.sensitive, key_version = excluded.key_version,
                identity = excluded.identity, source_updated_at = excluded.source_updated_at, connector = excluded.connector, updated_at = now()
            """,
            logger: logger
        )
        try await database.query(
            "UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), change_xid = pg_current_xact_id(), updated_at = now() WHERE id = \(target)", logger: logger
        )
        changed.insert(target)
        // The entity it came from may have held together through it alone.
        if let previous, !changed.contains(previous.entity) || previous.entity == target && previous.identity != Set(source.protected.blindIndex) {
            changed.formUnion(try await split(previous.entity, tenant: tenant, model: model, on: database))
        }
        return changed
    }

    private func otherSources(of entity: UUID, than source: SourceInput, model: String, on database: PostgresConnection) async throws -> Int {
        for try await count in try await database.query(
            """
            SELECT count(*)::int FROM unified_sources WHERE entity_id = \(entity)
              AND NOT (connection_id = \(source.connection) AND stream = \(source.stream) AND external_id = \(source.externalID) AND model = \(model))
            """,
            logger: logger
        ).decode(Int.self) {
            return count
        }
        return 0
    }

    struct SourceKey: Hashable {
        let connection: UUID
        let stream: String
        let externalID: String
    }

    /// Refreshes the planner's statistics of the sources and entities tables. Lookups by key need them: on a
    /// table filled since its last analysis the planner believes it nearly empty and scans it
    /// whole on every batch (measured: 50 ms a batch at 10,000 sources, growing with each).
    /// Linking calls it as the sources it wrote in a sync double.
    public func analyze(client: PostgresClient) async throws {
        try await withDatabaseErrors("analyzing unified_sources") {
            try await client.query("ANALYZE unified_sources, unified_entities", logger: logger)
        }
    }
}
