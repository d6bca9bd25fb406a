import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Linking a whole batch set-wise, the path every batch takes unless a source's keys changed.
extension EntityStore {
    /// The batch linked in a few statements, whatever its size: the sources' earlier rows and
    /// every source already holding one of the batch's keys are read at once, the links decided
    /// in memory by the same rules as `link(_:on:tenant:model:)`, and written back set-wise.
    /// Nil (nothing written) when a source's keys changed since it was last linked: that may
    /// split an entity, which the record-by-record path handles.
    func linkBatch(_ sources: [SourceInput], on database: PostgresConnection, tenant: TenantID, model: String) async throws -> Int? {
        let keys = sources.map { SourceKey(connection: $0.connection, stream: $0.stream, externalID: $0.externalID) }
        guard Set(keys).count == keys.count else { return nil }  // one source twice in a batch: in order, one by one
        var previous: [SourceKey: (entity: UUID, identity: Set<[UInt8]>)] = [:]
        var created: [UUID: (Date, Int)] = [:]
        // Each source probed by its primary key (a lateral subquery on every key column cannot
        // be planned any other way): joined as a set, a table filled since its last analysis
        // looked nearly empty and was scanned whole, 15 to 30 ms a batch on a first sync.
        for try await (connection, stream, externalID, entity, identity, createdAt) in try await database.query(
            """
            SELECT s.connection_id, s.stream, s.external_id, s.entity_id, s.identity, e.created_at
            FROM unnest(\(keys.map(\.connection))::uuid[], \(keys.map(\.stream))::text[], \(keys.map(\.externalID))::text[]) AS k(c, s, x)
            CROSS JOIN LATERAL (SELECT * FROM unified_sources s
                                WHERE s.connection_id = k.c AND s.stream = k.s AND s.external_id = k.x AND s.model = \(model)) s
            CROSS JOIN LATERAL (SELECT x.created_at FROM unified_entities x WHERE x.id = s.entity_id OFFSET 0) e
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
            // One bitmap scan of the GIN index for every digest at once (`&&`), not one probe a
            // digest: 2,000 probes cost 120 ms a batch, the one scan 12 ms. Each holder's entity
            // is then fetched by its key (`OFFSET 0` keeps the planner from hashing the whole
            // entities table to join a few rows). The array goes in as a sub-select: seen as a
            // value, 2,000 digests make the planner expect every row to match and scan them all.
            for try await (entity, createdAt, connection, stream, externalID, identity) in try await database.query(
                """
                SELECT DISTINCT s.entity_id, e.created_at, s.connection_id, s.stream, s.external_id, s.identity
                FROM unified_sources s
                CROSS JOIN LATERAL (SELECT x.created_at FROM unified_entities x WHERE x.id = s.entity_id OFFSET 0) e
                WHERE s.identity && (SELECT \(digests)::bytea[]) AND s.tenant_id = \(tenant.rawValue) AND s.model = \(model)
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
                UPDATE unified_entities e SET merged_into = m.target, change_seq = nextval('unified_change_seq'), change_xid = pg_current_xact_id(), updated_at = now()
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
        let touched = Set(finalTargets)
        // Entities inserted above already carry a fresh change sequence: updating them again
        // would write every new entity twice (the first sync's whole batch).
        let existing = Array(touched.subtracting(newEntities))
        if !existing.isEmpty {
            try await database.query(
                """
                UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), change_xid = pg_current_xact_id(), updated_at = now() WHERE id = ANY(\(existing))
                """,
                logger: logger
            )
        }
        return touched.union(stored.map(\.0)).count
    }
}
