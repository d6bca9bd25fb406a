import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// The sealed columns a re-encryption pass moves to the newest data key.
enum SealedColumn {
    case records, connections, webhookEvents, unifiedSources
}

extension KeyAdministration {
    /// Re-seals up to `batchSize` rows in one transaction; rows another pass holds are skipped
    /// (`SKIP LOCKED`), so several passes may run at once.
    func reencryptBatch(_ column: SealedColumn, tenant: TenantID, target: DataKey, batchSize: Int) async throws -> Int {
        // Credentials are in the vault, everything else in the main database.
        let database = column == .connections ? vault : client
        return try await withDatabaseErrors("re-encrypting rows of tenant \(tenant)") {
            try await database.withGuardedTransaction(logger: logger) { connection in
                switch column {
                case .records:
                    return try await reencryptRecords(connection, tenant: tenant, target: target, batchSize: batchSize)
                case .connections:
                    return try await reencryptCredentials(connection, tenant: tenant, target: target, batchSize: batchSize)
                case .webhookEvents:
                    return try await reencryptWebhookEvents(connection, tenant: tenant, target: target, batchSize: batchSize)
                case .unifiedSources:
                    return try await reencryptUnifiedSources(connection, tenant: tenant, target: target, batchSize: batchSize)
                }
            }
        }
    }

    private func reencryptRecords(_ connection: PostgresConnection, tenant: TenantID, target: DataKey, batchSize: Int) async throws
        -> Int
    {
        let rows = try await connection.query(
            """
            SELECT connection_id, stream, external_id, sensitive, key_version FROM records
            WHERE tenant_id = \(tenant.rawValue) AND sensitive IS NOT NULL AND key_version < \(target.version)
            ORDER BY connection_id, stream, external_id
            LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
            """,
            logger: logger
        )
        var connections: [UUID] = [], streams: [String] = [], ids: [String] = [], sealed: [String] = []
        for try await (connectionID, stream, externalID, ciphertext, version) in rows.decode((UUID, String, String, ByteBuffer, Int).self) {
            let key = RecordKey(connection: connectionID, stream: stream, externalID: externalID)
            let context = EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: key.rowIdentity)
            let resealed = try await reseal(Array(ciphertext.readableBytesView), from: version, to: target, context: context)
            connections.append(connectionID)
            streams.append(stream)
            ids.append(externalID)
            sealed.append(hex(resealed))
        }
        guard !ids.isEmpty else { return 0 }
        try await connection.query(
            """
            UPDATE records AS r SET sensitive = decode(u.sealed, 'hex'), key_version = \(target.version)
            FROM unnest(\(connections)::uuid[], \(streams)::text[], \(ids)::text[], \(sealed)::text[]) AS u(c, s, e, sealed)
            WHERE r.connection_id = u.c AND r.stream = u.s AND r.external_id = u.e
            """,
            logger: logger
        )
        return ids.count
    }

    private func reencryptCredentials(_ connection: PostgresConnection, tenant: TenantID, target: DataKey, batchSize: Int)
        async throws -> Int
    {
        let rows = try await connection.query(
            """
            SELECT connection_id, sealed, key_version FROM connection_credentials
            WHERE tenant_id = \(tenant.rawValue) AND key_version < \(target.version)
            ORDER BY connection_id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
            """,
            logger: logger
        )
        var updates: [(UUID, [UInt8])] = []
        for try await (id, ciphertext, version) in rows.decode((UUID, ByteBuffer, Int).self) {
            let context = ConnectionStore.credentialsContext(tenant, id)
            updates.append((id, try await reseal(Array(ciphertext.readableBytesView), from: version, to: target, context: context)))
        }
        for (id, sealed) in updates {
            try await connection.query(
                """
                UPDATE connection_credentials SET sealed = \(ByteBuffer(bytes: sealed)), key_version = \(target.version)
                WHERE connection_id = \(id) AND tenant_id = \(tenant.rawValue)
                """,
                logger: logger
            )
        }
        return updates.count
    }

    private func reseal(_ ciphertext: [UInt8], from version: Int, to target: DataKey, context: EncryptionContext) async throws
        -> [UInt8]
    {
        let old = try await keyring.decryptionKey(for: context.tenant, version: version)
        let plaintext = try Envelope.open(ciphertext, with: old, context: context)
        return try Envelope.seal(plaintext.revealed, with: target, context: context)
    }

    /// Webhook payloads in the inbox: sealed like the rest, so a retired key never strands one.
    private func reencryptWebhookEvents(_ connection: PostgresConnection, tenant: TenantID, target: DataKey, batchSize: Int)
        async throws -> Int
    {
        let rows = try await connection.query(
            """
            SELECT id, connection_id, provider_event_id, payload, key_version FROM webhook_events
            WHERE tenant_id = \(tenant.rawValue) AND key_version < \(target.version)
            ORDER BY id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
            """,
            logger: logger
        )
        var updates: [(Int64, [UInt8])] = []
        for try await (id, connectionID, eventID, ciphertext, version) in rows.decode((Int64, UUID, String, ByteBuffer, Int).self) {
            let context = WebhookInbox.context(tenant, connection: connectionID, eventID: eventID)
            updates.append((id, try await reseal(Array(ciphertext.readableBytesView), from: version, to: target, context: context)))
        }
        for (id, sealed) in updates {
            try await connection.query(
                "UPDATE webhook_events SET payload = \(ByteBuffer(bytes: sealed)), key_version = \(target.version) WHERE id = \(id)",
                logger: logger
            )
        }
        return updates.count
    }

    /// Unified sources' sealed mapped fields, bound to their source row and model.
    private func reencryptUnifiedSources(_ connection: PostgresConnection, tenant: TenantID, target: DataKey, batchSize: Int)
        async throws -> Int
    {
        let rows = try await connection.query(
            """
            SELECT connection_id, stream, external_id, model, sensitive, key_version FROM unified_sources
            WHERE tenant_id = \(tenant.rawValue) AND sensitive IS NOT NULL AND key_version < \(target.version)
            ORDER BY connection_id, stream, external_id, model
            LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
            """,
            logger: logger
        )
        var updates: [(UUID, String, String, String, [UInt8])] = []
        for try await (connectionID, stream, externalID, model, ciphertext, version) in rows.decode((UUID, String, String, String, ByteBuffer, Int).self) {
            let context = EncryptionContext(tenant: tenant, table: "unified_sources", column: "sensitive",
                                            row: EntityReader.rowIdentity(connection: connectionID, stream: stream, externalID: externalID, model: model))
            updates.append((connectionID, stream, externalID, model, try await reseal(Array(ciphertext.readableBytesView), from: version, to: target, context: context)))
        }
        for (connectionID, stream, externalID, model, sealed) in updates {
            try await connection.query(
                """
                UPDATE unified_sources SET sensitive = \(ByteBuffer(bytes: sealed)), key_version = \(target.version)
                WHERE connection_id = \(connectionID) AND stream = \(stream) AND external_id = \(externalID) AND model = \(model)
                """,
                logger: logger
            )
        }
        return updates.count
    }
}
