import Crypto
import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// The durable inbox of verified webhook events. A payload is sealed with the tenant's key
/// before its transaction opens (sealing may read keys through the pool), stored with the
/// provider's event id unique per connection, and opened again only by the job processing it.
public struct WebhookInbox: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger

    public init(client: PostgresClient, keyring: Keyring, logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.logger = logger
    }

    public struct Sealed: Sendable {
        let tenant: TenantID
        let connection: UUID
        let eventID: String
        let eventType: String
        let verifiedBy: String
        let payload: [UInt8]
        let keyVersion: Int
        /// HMAC of the signed bytes under the tenant's index key: the replay check.
        let signedDigest: [UInt8]
    }

    public struct Event: Sendable {
        public let id: Int64
        public let tenant: TenantID
        public let connection: UUID
        public let eventID: String
        public let eventType: String
        public let status: WebhookEventStatus
        public let payload: Secret<[UInt8]>
        /// When the hub received it: what orders events whose records carry no cursor field.
        public let receivedAt: Date
    }

    static func context(_ tenant: TenantID, connection: UUID, eventID: String) -> EncryptionContext {
        EncryptionContext(tenant: tenant, table: "webhook_events", column: "payload",
                          row: "\(connection.uuidString.lowercased())/\(eventID)")
    }

    /// Seals `body`; `signed` is what the signature covered (`WebhookVerifier.verify`'s answer).
    public func seal(tenant: TenantID, connection: UUID, eventID: String, eventType: String, verifiedBy: String,
                     body: [UInt8], signed: [UInt8]) async throws -> Sealed {
        let key = try await keyring.encryptionKey(for: tenant)
        let sealed = try Envelope.seal(body, with: key, context: Self.context(tenant, connection: connection, eventID: eventID))
        let indexKey = try await keyring.indexKey(for: tenant)
        let digest = HMAC<SHA256>.authenticationCode(for: signed, using: indexKey.subkey(.contentHash, field: "webhook_events.signed"))
        return Sealed(tenant: tenant, connection: connection, eventID: eventID, eventType: eventType, verifiedBy: verifiedBy,
                      payload: sealed, keyVersion: key.version, signedDigest: Array(digest))
    }

    /// Stores the event; nil when this connection already has an event with that id, or with
    /// the same signed bytes under another id (a replay either way).
    public func insert(_ event: Sealed, on database: PostgresConnection) async throws -> Int64? {
        try await withDatabaseErrors("storing webhook event \(event.eventID)") {
            let rows = try await database.query(
                """
                INSERT INTO webhook_events (tenant_id, connection_id, provider_event_id, event_type, payload, key_version, verified_by,
                                            signed_digest)
                VALUES (\(event.tenant.rawValue), \(event.connection), \(event.eventID), \(event.eventType),
                        \(ByteBuffer(bytes: event.payload)), \(event.keyVersion), \(event.verifiedBy), \(ByteBuffer(bytes: event.signedDigest)))
                ON CONFLICT DO NOTHING
                RETURNING id
                """,
                logger: logger
            )
            for try await id in rows.decode(Int64.self) { return id }
            return nil
        }
    }

    /// The event with its payload opened, for the job processing it.
    public func event(_ id: Int64) async throws -> Event {
        let row = try await withDatabaseErrors("reading webhook event \(id)") { () -> (UUID, UUID, String, String, String, ByteBuffer, Int, Date)? in
            let rows = try await client.query(
                """
                SELECT tenant_id, connection_id, provider_event_id, event_type, status, payload, key_version, received_at
                FROM webhook_events WHERE id = \(id)
                """,
                logger: logger
            )
            for try await row in rows.decode((UUID, UUID, String, String, String, ByteBuffer, Int, Date).self) { return row }
            return nil
        }
        guard let (tenantID, connection, eventID, type, status, sealed, version, receivedAt) = row else {
            throw HubError(.notFound, "webhook event \(id) not found")
        }
        let tenant = TenantID(tenantID)
        let key = try await keyring.decryptionKey(for: tenant, version: version)
        let payload = try Envelope.open(Array(sealed.readableBytesView), with: key,
                                        context: Self.context(tenant, connection: connection, eventID: eventID))
        return Event(id: id, tenant: tenant, connection: connection, eventID: eventID, eventType: type,
                     status: try WebhookEventStatus.stored(status, in: "webhook event \(id)"), payload: payload,
                     receivedAt: receivedAt)
    }

    /// Records how processing ended, in the caller's (fenced) transaction.
    public func finish(_ id: Int64, status: WebhookEventStatus, error: String? = nil, on database: PostgresConnection) async throws {
        try await withDatabaseErrors("updating webhook event \(id)") {
            try await database.query(
                "UPDATE webhook_events SET status = \(status.rawValue), error = \(error), processed_at = now() WHERE id = \(id)",
                logger: logger
            )
        }
    }

    public struct Summary: Sendable {
        public let id: Int64
        public let eventID: String
        public let eventType: String
        public let status: WebhookEventStatus
        public let error: String?
        public let receivedAt: Date
        public let processedAt: Date?
    }

    /// A connection's events, newest first, without payloads.
    public func list(connection: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> [Summary] {
        try await withDatabaseErrors("listing webhook events") {
            let rows = try await client.query(
                """
                SELECT id, provider_event_id, event_type, status, error, received_at, processed_at
                FROM webhook_events
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection)
                  AND (\(before)::bigint IS NULL OR id < \(before))
                ORDER BY id DESC LIMIT \(limit)
                """,
                logger: logger
            )
            var events: [Summary] = []
            for try await row in rows.decode((Int64, String, String, String, String?, Date, Date?).self) {
                events.append(Summary(id: row.0, eventID: row.1, eventType: row.2,
                                      status: try WebhookEventStatus.stored(row.3, in: "webhook event \(row.0)"), error: row.4,
                                      receivedAt: row.5, processedAt: row.6))
            }
            return events
        }
    }

    /// Retention: payloads of settled events received before `payloadCutoff` are erased (the
    /// row, its event id and signed digest stay, so a replay is still recognised); rows received
    /// before `rowCutoff` go entirely. Returns (payloads erased, rows deleted).
    @discardableResult
    public func prune(payloadsBefore payloadCutoff: Date, rowsBefore rowCutoff: Date) async throws -> (erased: Int, deleted: Int) {
        let erased = try await Pruning.inBatches("erasing old webhook payloads", client: client, logger: logger) {
            """
            WITH erased AS (
                UPDATE webhook_events SET payload = ''::bytea
                WHERE id IN (SELECT id FROM webhook_events
                             WHERE received_at < \(payloadCutoff) AND status <> 'received' AND payload <> ''::bytea
                             LIMIT \(Pruning.batchSize))
                RETURNING 1
            )
            SELECT count(*)::int8 FROM erased
            """
        }
        let deleted = try await Pruning.inBatches("pruning old webhook events", client: client, logger: logger) {
            """
            WITH gone AS (
                DELETE FROM webhook_events
                WHERE id IN (SELECT id FROM webhook_events WHERE received_at < \(rowCutoff) AND status <> 'received' LIMIT \(Pruning.batchSize))
                RETURNING 1
            )
            SELECT count(*)::int8 FROM gone
            """
        }
        return (erased, deleted)
    }
}

extension WebhookInbox {
    /// How many of the connection's events with these provider ids are processed.
    public func processedCount(connection: UUID, tenant: TenantID, providerEventIDs: [String]) async throws -> Int {
        try await withDatabaseErrors("counting processed webhook events") {
            let rows = try await client.query(
                """
                SELECT count(*)::int FROM webhook_events
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection)
                  AND provider_event_id = ANY(\(providerEventIDs)) AND status = 'processed'
                """, logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}
