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
    /// Concurrent linkers of the same keys (two workers writing two sources of one person) are
    /// serialized by transaction-scoped advisory locks on the keys, taken in one sorted
    /// statement so that two batches never wait on each other in opposite orders.
    @discardableResult
    public func link(on database: PostgresConnection, tenant: TenantID, model: String, sources: [SourceInput]) async throws -> Int {
        guard !sources.isEmpty else { return 0 }
        return try await withDatabaseErrors("linking \(sources.count) \(model) sources") {
            let digests = Array(Set(sources.flatMap(\.protected.blindIndex))).map { ByteBuffer(bytes: $0) }
            if !digests.isEmpty {
                try await database.query(
                    """
                    SELECT pg_advisory_xact_lock(hashtextextended(\(tenant.description) || ':' || \(model) || ':' || encode(d, 'hex'), 0))
                    FROM (SELECT DISTINCT unnest(\(digests)::bytea[]) AS d ORDER BY 1) keys
                    """,
                    logger: logger
                )
            }
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
                    UPDATE unified_entities SET merged_into = \(survivor), change_seq = nextval('unified_change_seq'), updated_at = now()
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
            "UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), updated_at = now() WHERE id = \(target)", logger: logger
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

    /// Splits `entity` into the groups of its sources that share identity keys, directly or
    /// through one another. The largest group (ties: the one holding the oldest source) keeps
    /// the id; each other group becomes an entity of its own. Returns the entities changed.
    func split(_ entity: UUID, tenant: TenantID, model: String, on database: PostgresConnection) async throws -> Set<UUID> {
        var members: [(key: SourceKey, identity: [[UInt8]])] = []
        for try await (connection, stream, externalID, keys) in try await database.query(
            """
            SELECT connection_id, stream, external_id, identity FROM unified_sources WHERE entity_id = \(entity)
            ORDER BY updated_at, connection_id, stream, external_id
            """,
            logger: logger
        ).decode((UUID, String, String, [ByteBuffer]).self) {
            members.append((SourceKey(connection: connection, stream: stream, externalID: externalID), keys.map { Array($0.readableBytesView) }))
        }
        let groups = Self.groups(members.map(\.identity))
        guard groups.count > 1 else { return [] }
        var changed: Set<UUID> = [entity]
        // The largest group keeps the id; `groups` lists members in order, so ties go to the oldest.
        let keeper = groups.indices.max { groups[$0].count < groups[$1].count || groups[$0].count == groups[$1].count && groups[$0][0] > groups[$1][0] }!
        for (index, group) in groups.enumerated() where index != keeper {
            let fresh = UUID()
            try await database.query(
                "INSERT INTO unified_entities (id, tenant_id, model) VALUES (\(fresh), \(tenant.rawValue), \(model))", logger: logger
            )
            let keys = group.map { members[$0].key }
            try await database.query(
                """
                UPDATE unified_sources SET entity_id = \(fresh)
                FROM unnest(\(keys.map(\.connection))::uuid[], \(keys.map(\.stream))::text[], \(keys.map(\.externalID))::text[]) AS k(c, s, x)
                WHERE connection_id = k.c AND stream = k.s AND external_id = k.x AND model = \(model) AND entity_id = \(entity)
                """,
                logger: logger
            )
            changed.insert(fresh)
        }
        try await database.query(
            "UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), updated_at = now() WHERE id = \(entity)", logger: logger
        )
        return changed
    }

    struct SourceKey: Hashable {
        let connection: UUID
        let stream: String
        let externalID: String
    }

    /// Connected groups of members (by index, each group in member order) where two members
    /// connect when they share a key.
    static func groups(_ identities: [[[UInt8]]]) -> [[Int]] {
        var parent = Array(identities.indices)
        func root(_ index: Int) -> Int {
            var current = index
            while parent[current] != current { parent[current] = parent[parent[current]]; current = parent[current] }
            return current
        }
        var owner: [[UInt8]: Int] = [:]
        for (index, keys) in identities.enumerated() {
            for key in keys {
                if let other = owner[key] { parent[root(index)] = root(other) } else { owner[key] = index }
            }
        }
        var grouped: [Int: [Int]] = [:]
        var order: [Int] = []
        for index in identities.indices {
            let top = root(index)
            if grouped[top] == nil { order.append(top) }
            grouped[top, default: []].append(index)
        }
        return order.map { grouped[$0]! }
    }

    /// The batch linked in a few statements, whatever its size: the sources' earlier rows and
    /// every source already holding one of the batch's keys are read at once, the links decided
    /// in memory by the same rules as `link(_:on:tenant:model:)`, and written back set-wise.
    /// Nil (nothing written) when a source's keys changed since it was last linked: that may
    /// split an entity, which the record-by-record path handles.
    private func linkBatch(_ sources: [SourceInput], on database: PostgresConnection, tenant: TenantID, model: String) async throws -> Int? {
        let keys = sources.map { SourceKey(connection: $0.connection, stream: $0.stream, externalID: $0.externalID) }
        guard Set(keys).count == keys.count else { return nil }  // one source twice in a batch: in order, one by one
        var previous: [SourceKey: (entity: UUID, identity: Set<[UInt8]>)] = [:]
        var created: [UUID: (Date, Int)] = [:]
        for try await (connection, stream, externalID, entity, identity, createdAt) in try await database.query(
            """
            SELECT s.connection_id, s.stream, s.external_id, s.entity_id, s.identity, e.created_at FROM unified_sources s
            JOIN unnest(\(keys.map(\.connection))::uuid[], \(keys.map(\.stream))::text[], \(keys.map(\.externalID))::text[]) AS k(c, s, x)
              ON s.connection_id = k.c AND s.stream = k.s AND s.external_id = k.x
            JOIN unified_entities e ON e.id = s.entity_id
            WHERE s.model = \(model) AND s.connection_id = ANY(\(Array(Set(keys.map(\.connection)))))
              AND s.external_id = ANY(\(keys.map(\.externalID)))
            """,
            logger: logger
        ).decode((UUID, String, String, UUID, [ByteBuffer], Date).self) {
            previous[SourceKey(connection: connection, stream: stream, externalID: externalID)] = (entity, Set(identity.map { Array($0.readableBytesView) }))
            created[entity] = (createdAt, 0)
        }
        for (key, source) in zip(keys, sources) {
            if let earlier = previous[key], earlier.identity != Set(source.protected.blindIndex) { return nil }
        }
        // Who holds each of the batch's keys now (the batch's own rows aside: they are rewritten),
        // and how old each entity is: the oldest survives a merge.
        let digests = Array(Set(sources.flatMap(\.protected.blindIndex))).map { ByteBuffer(bytes: $0) }
        var holders: [[UInt8]: Set<UUID>] = [:]
        if !digests.isEmpty {
            let batchKeys = Set(keys)
            for try await (entity, createdAt, connection, stream, externalID, identity) in try await database.query(
                """
                SELECT DISTINCT s.entity_id, e.created_at, s.connection_id, s.stream, s.external_id, s.identity
                FROM unnest(\(digests)::bytea[]) AS d(digest)
                CROSS JOIN LATERAL (SELECT * FROM unified_sources x WHERE x.identity @> ARRAY[d.digest]) s
                JOIN unified_entities e ON e.id = s.entity_id
                WHERE s.tenant_id = \(tenant.rawValue) AND s.model = \(model)
                """,
                logger: logger
            ).decode((UUID, Date, UUID, String, String, [ByteBuffer]).self) {
                guard !batchKeys.contains(SourceKey(connection: connection, stream: stream, externalID: externalID)) else { continue }
                created[entity] = (createdAt, 0)
                for digest in identity { holders[Array(digest.readableBytesView), default: []].insert(entity) }
            }
        }
        func age(_ entity: UUID) -> (Date, Int, String) {
            let (date, order) = created[entity] ?? (.distantFuture, Int.max)
            return (date, order, entity.uuidString)
        }
        var mergedInto: [UUID: UUID] = [:]
        func current(_ entity: UUID) -> UUID {
            var entity = entity
            while let next = mergedInto[entity] { entity = next }
            return entity
        }
        var fresh: [UUID] = []
        var targets: [UUID] = []
        for (key, source) in zip(keys, sources) {
            let candidates = Set(source.protected.blindIndex.flatMap { holders[$0] ?? [] }.map(current))
                .sorted { age($0) < age($1) }
            let target: UUID
            if let survivor = candidates.first {
                target = survivor
                for other in candidates.dropFirst() { mergedInto[other] = survivor }
            } else if let earlier = previous[key] {
                target = current(earlier.entity)  // its keys unchanged and shared with no one: it keeps its entity
            } else {
                target = UUID()
                created[target] = (.distantFuture, fresh.count)
                fresh.append(target)
            }
            for digest in source.protected.blindIndex { holders[digest, default: []].insert(target) }
            targets.append(target)
        }
        let finalTargets = targets.map(current)
        let merges = mergedInto.keys.sorted { $0.uuidString < $1.uuidString }.map { ($0, current($0)) }.filter { $0.0 != $0.1 }
        let newEntities = fresh.filter { mergedInto[$0] == nil || finalTargets.contains($0) }
        if !newEntities.isEmpty {
            try await database.query(
                """
                INSERT INTO unified_entities (id, tenant_id, model)
                SELECT id, \(tenant.rawValue), \(model) FROM unnest(\(newEntities)::uuid[]) AS id
                """,
                logger: logger
            )
        }
        let stored = merges.filter { !fresh.contains($0.0) }
        if !stored.isEmpty {
            try await database.query(
                """
                UPDATE unified_sources s SET entity_id = m.target
                FROM unnest(\(stored.map(\.0))::uuid[], \(stored.map(\.1))::uuid[]) AS m(source, target) WHERE s.entity_id = m.source
                """,
                logger: logger
            )
            try await database.query(
                """
                UPDATE unified_entities e SET merged_into = m.target, change_seq = nextval('unified_change_seq'), updated_at = now()
                FROM unnest(\(stored.map(\.0))::uuid[], \(stored.map(\.1))::uuid[]) AS m(source, target)
                WHERE e.id = m.source OR e.merged_into = m.source
                """,
                logger: logger
            )
        }
        let timestamps = ISO8601DateFormatter()
        timestamps.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        try await database.query(
            """
            INSERT INTO unified_sources (tenant_id, model, connection_id, stream, external_id, connector, entity_id, data, sensitive,
                                         key_version, identity, source_updated_at)
            SELECT \(tenant.rawValue), \(model), r.c, r.s, r.x, r.connector, r.entity, r.data::jsonb, decode(NULLIF(r.sealed, ''), 'hex'),
                   r.version, ARRAY(SELECT decode(d, 'hex') FROM unnest(string_to_array(NULLIF(r.identity, ''), ',')) AS d),
                   NULLIF(r.updated, '')::timestamptz
            FROM unnest(\(keys.map(\.connection))::uuid[], \(keys.map(\.stream))::text[], \(keys.map(\.externalID))::text[],
                        \(sources.map(\.connector))::text[], \(finalTargets)::uuid[],
                        \(sources.map { String(decoding: $0.protected.plainJSON, as: UTF8.self) })::text[],
                        \(sources.map { $0.protected.sensitive.map(hex) ?? "" })::text[], \(sources.map(\.protected.keyVersion))::int4[],
                        \(sources.map { $0.protected.blindIndex.map(hex).joined(separator: ",") })::text[],
                        \(sources.map { $0.sourceUpdatedAt.map { timestamps.string(from: $0) } ?? "" })::text[])
                 AS r(c, s, x, connector, entity, data, sealed, version, identity, updated)
            ON CONFLICT (connection_id, stream, external_id, model) DO UPDATE SET
                entity_id = excluded.entity_id, data = excluded.data, sensitive = excluded.sensitive, key_version = excluded.key_version,
                identity = excluded.identity, source_updated_at = excluded.source_updated_at, connector = excluded.connector, updated_at = now()
            """,
            logger: logger
        )
        let touched = Array(Set(finalTargets))
        try await database.query(
            """
            UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), updated_at = now() WHERE id = ANY(\(touched))
            """,
            logger: logger
        )
        return Set(touched).union(stored.map(\.0)).count
    }

    /// Takes deleted records out of their entities, in every model: an entity whose only bridge
    /// was one of them splits into the groups its remaining sources form. Returns the entities
    /// changed.
    @discardableResult
    public func unlink(on database: PostgresConnection, tenant: TenantID, connection: UUID, stream: String, externalIDs: [String]) async throws -> Int {
        guard !externalIDs.isEmpty else { return 0 }
        return try await withDatabaseErrors("unlinking \(externalIDs.count) deleted sources") {
            var left: [(UUID, String)] = []
            for try await row in try await database.query(
                """
                DELETE FROM unified_sources
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection) AND stream = \(stream) AND external_id = ANY(\(externalIDs))
                RETURNING entity_id, model
                """,
                logger: logger
            ).decode((UUID, String).self) { left.append(row) }
            var changed = Set<UUID>()
            for (entity, model) in Set(left.map { EntityModel(entity: $0.0, model: $0.1) }).map({ ($0.entity, $0.model) }) {
                changed.insert(entity)
                changed.formUnion(try await split(entity, tenant: tenant, model: model, on: database))
                try await database.query(
                    "UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), updated_at = now() WHERE id = \(entity)", logger: logger
                )
            }
            return changed.count
        }
    }

    private struct EntityModel: Hashable {
        let entity: UUID
        let model: String
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
