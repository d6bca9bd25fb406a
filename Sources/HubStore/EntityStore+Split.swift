import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Splitting entities whose sources no longer hold together, and unlinking deleted sources.
extension EntityStore {
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
            "UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), change_xid = pg_current_xact_id(), updated_at = now() WHERE id = \(entity)", logger: logger
        )
        return changed
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

    /// Takes records out of their entities, in every model or in `model` only (a record that
    /// was deleted, or no longer maps into it): an entity whose only bridge was one of them
    /// splits into the groups its remaining sources form. Returns the entities changed.
    @discardableResult
    public func unlink(on database: PostgresConnection, tenant: TenantID, connection: UUID, stream: String, externalIDs: [String],
                       model: String? = nil) async throws -> Int {
        guard !externalIDs.isEmpty else { return 0 }
        return try await withDatabaseErrors("unlinking \(externalIDs.count) sources") {
            var left: [(UUID, String)] = []
            for try await row in try await database.query(
                """
                DELETE FROM unified_sources
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection) AND stream = \(stream) AND external_id = ANY(\(externalIDs))
                  AND (\(model)::text IS NULL OR model = \(model))
                RETURNING entity_id, model
                """,
                logger: logger
            ).decode((UUID, String).self) { left.append(row) }
            var changed = Set<UUID>()
            for (entity, model) in Set(left.map { EntityModel(entity: $0.0, model: $0.1) }).map({ ($0.entity, $0.model) }) {
                changed.insert(entity)
                changed.formUnion(try await split(entity, tenant: tenant, model: model, on: database))
                try await database.query(
                    "UPDATE unified_entities SET change_seq = nextval('unified_change_seq'), change_xid = pg_current_xact_id(), updated_at = now() WHERE id = \(entity)", logger: logger
                )
            }
            return changed.count
        }
    }

    private struct EntityModel: Hashable {
        let entity: UUID
        let model: String
    }
}
