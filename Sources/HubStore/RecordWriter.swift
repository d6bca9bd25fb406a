import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Writes records into the normalized store with their sensitive fields sealed, blind
/// indexes and keyed content hash computed at the column boundary; plaintext of a sensitive
/// field never reaches PostgreSQL.
public struct RecordWriter: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger

    public init(client: PostgresClient, keyring: Keyring, logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.logger = logger
    }

    public struct Input: Sendable {
        public let externalID: String
        public let fields: [String: JSONValue]
        /// When the provider last changed the record; an older version never replaces a newer.
        public let sourceUpdatedAt: Date?

        public init(externalID: String, fields: [String: JSONValue], sourceUpdatedAt: Date? = nil) {
            self.externalID = externalID
            self.fields = fields
            self.sourceUpdatedAt = sourceUpdatedAt
        }
    }

    /// Upserts a batch of one stream's records in one statement. A record whose content hash
    /// is unchanged is left alone (no new change sequence). Returns how many rows changed.
    @discardableResult
    public func upsert(
        tenant: TenantID, connection: UUID, stream: String, records: [Input], policy: RecordPolicy
    ) async throws -> Int {
        guard !records.isEmpty else { return 0 }
        let query = try await upsertQuery(tenant: tenant, connection: connection, stream: stream, records: records, policy: policy)
        return try await withDatabaseErrors("writing \(records.count) records of stream \(stream)") {
            try await Self.count(try await client.query(query, logger: logger))
        }
    }

    /// A batch sealed and encoded, ready to run: preparing reads the tenant's keys (through the
    /// pool), so a caller holding a transaction's connection prepares first, then runs it.
    public struct PreparedUpsert: Sendable {
        let query: PostgresQuery?
        let count: Int
        let stream: String
    }

    public func prepare(
        tenant: TenantID, connection: UUID, stream: String, records: [Input], policy: RecordPolicy
    ) async throws -> PreparedUpsert {
        guard !records.isEmpty else { return PreparedUpsert(query: nil, count: 0, stream: stream) }
        let query = try await upsertQuery(tenant: tenant, connection: connection, stream: stream, records: records, policy: policy)
        return PreparedUpsert(query: query, count: records.count, stream: stream)
    }

    /// Runs a prepared batch on the caller's connection; returns how many rows changed.
    @discardableResult
    public func run(_ prepared: PreparedUpsert, on database: PostgresConnection) async throws -> Int {
        guard let query = prepared.query else { return 0 }
        return try await withDatabaseErrors("writing \(prepared.count) records of stream \(prepared.stream)") {
            try await Self.count(try await database.query(query, logger: logger))
        }
    }

    /// The one count an upsert statement answers with.
    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var total = 0
        for try await value in rows.decode(Int.self) { total += value }
        return total
    }

    static func countRows(_ rows: PostgresRowSequence) async throws -> Int {
        var changed = 0
        for try await _ in rows { changed += 1 }
        return changed
    }

    private func upsertQuery(
        tenant: TenantID, connection: UUID, stream: String, records: [Input], policy: RecordPolicy
    ) async throws -> PostgresQuery {
        let key = try await keyring.encryptionKey(for: tenant)
        let indexKey = try await keyring.indexKey(for: tenant)
        let protector = RecordProtector(policy: policy, key: key, indexKey: indexKey)
        var ids: [String] = [], data: [String] = [], updated: [Double] = []
        var sealed: [ByteBuffer] = [], indexes: [ByteBuffer] = [], hashes: [ByteBuffer] = []
        ids.reserveCapacity(records.count)
        data.reserveCapacity(records.count)
        updated.reserveCapacity(records.count)
        sealed.reserveCapacity(records.count)
        indexes.reserveCapacity(records.count)
        hashes.reserveCapacity(records.count)
        for record in records {
            let recordKey = RecordKey(connection: connection, stream: stream, externalID: record.externalID)
            let protected = try protector.protect(record.fields, row: recordKey.rowIdentity)
            ids.append(record.externalID)
            data.append(String(decoding: protected.plainJSON, as: UTF8.self))
            // PostgresNIO binds no arrays of optionals: empty means none, for the sealed
            // fields as for the time (-1).
            sealed.append(ByteBuffer(bytes: protected.sensitive ?? []))
            // A record's digests, concatenated: each is BlindIndex.length bytes, so the SQL
            // below cuts them apart without a subquery per row.
            indexes.append(ByteBuffer(bytes: protected.blindIndex.joined()))
            hashes.append(ByteBuffer(bytes: protected.contentHash))
            updated.append(record.sourceUpdatedAt?.timeIntervalSince1970 ?? -1)
        }
        // The digests of the record's present indexed fields, in the policy's order.
        let width = BlindIndex.length
        let blindIndex = policy.blindIndexes.isEmpty ? "'{}'::bytea[]" : "array_remove(ARRAY["
            + policy.blindIndexes.indices.map { "NULLIF(substring(r.idx FROM \($0 * width + 1) FOR \(width)), ''::bytea)" }
                .joined(separator: ", ")
            + "], NULL)"
        // One row back with the count, rather than a row per written record.
        return """
            WITH written AS (
            INSERT INTO records (tenant_id, connection_id, stream, external_id, data, sensitive, key_version,
                                 blind_index, content_hash, source_updated_at, synced_at)
            SELECT \(tenant.rawValue), \(connection), \(stream), r.id, r.data::jsonb, NULLIF(r.sealed, ''::bytea),
                   CASE WHEN r.sealed = ''::bytea THEN NULL ELSE \(key.version) END,
                   \(unescaped: blindIndex),
                   r.hash, CASE WHEN r.updated < 0 THEN NULL ELSE to_timestamp(r.updated) END, now()
            FROM unnest(\(ids)::text[], \(data)::text[], \(sealed)::bytea[], \(indexes)::bytea[], \(hashes)::bytea[],
                        \(updated)::float8[])
                 AS r(id, data, sealed, idx, hash, updated)
            ON CONFLICT (connection_id, stream, external_id) DO UPDATE SET
                data = EXCLUDED.data, sensitive = EXCLUDED.sensitive, key_version = EXCLUDED.key_version,
                blind_index = EXCLUDED.blind_index, content_hash = EXCLUDED.content_hash,
                source_updated_at = EXCLUDED.source_updated_at,
                synced_at = EXCLUDED.synced_at, deleted_at = NULL, change_seq = nextval('records_change_seq')
            WHERE records.tenant_id = EXCLUDED.tenant_id
              AND (records.content_hash <> EXCLUDED.content_hash OR records.deleted_at IS NOT NULL)
              AND (EXCLUDED.source_updated_at IS NULL OR records.source_updated_at IS NULL
                   OR EXCLUDED.source_updated_at >= records.source_updated_at)
            RETURNING 1
            )
            SELECT count(*)::int8 FROM written
            """
    }

    /// Marks one record deleted (a provider's delete event), unless the store already holds a
    /// version newer than the deletion. Returns whether a row changed.
    @discardableResult
    public func delete(
        tenant: TenantID, connection: UUID, stream: String, externalID: String, sourceUpdatedAt: Date?,
        on database: PostgresConnection
    ) async throws -> Bool {
        try await withDatabaseErrors("deleting record \(externalID) of stream \(stream)") {
            let rows = try await database.query(
                """
                UPDATE records SET deleted_at = now(), change_seq = nextval('records_change_seq'),
                       source_updated_at = COALESCE(\(sourceUpdatedAt), source_updated_at)
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection) AND stream = \(stream)
                  AND external_id = \(externalID) AND deleted_at IS NULL
                  AND (\(sourceUpdatedAt)::timestamptz IS NULL OR source_updated_at IS NULL
                       OR source_updated_at <= \(sourceUpdatedAt))
                RETURNING 1
                """,
                logger: logger
            )
            return try await Self.countRows(rows) > 0
        }
    }
}

/// Lower-case hex of bytes, without Foundation formatting (it runs per record).
public func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var output = [UInt8]()
    output.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        output.append(digits[Int(byte >> 4)])
        output.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: output, as: UTF8.self)
}

extension RecordWriter {
    /// After a complete full-refresh pass: the stream's records not seen in it are marked
    /// deleted. Returns how many. On the caller's connection (the pass's last transaction).
    /// Returns the external ids marked deleted.
    public func markUnseenDeleted(on database: PostgresConnection, tenant: TenantID, connection: UUID, stream: String,
                                  seen: [String]) async throws -> [String] {
        let rows = try await database.query(
            """
            UPDATE records SET deleted_at = now(), change_seq = nextval('records_change_seq')
            WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection) AND stream = \(stream)
              AND deleted_at IS NULL AND NOT (external_id = ANY(\(seen)::text[]))
            RETURNING external_id
            """,
            logger: logger
        )
        var deleted: [String] = []
        for try await id in rows.decode(String.self) { deleted.append(id) }
        return deleted
    }
}
