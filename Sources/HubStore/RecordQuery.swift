import Foundation
import HubCore
import HubCrypto
import Logging
import PostgresNIO

/// A page of a stream's records in change order (keyset pagination on the change sequence),
/// always within one tenant; optionally only those whose blind-indexed field equals a value.
public struct RecordQuery: Sendable {
    public var tenant: TenantID
    public var connection: UUID
    public var stream: String
    public var limit: Int
    /// Only records with a change sequence above this (the opaque cursor's content).
    public var after: Int64?
    public var updatedAfter: Date?
    public var includeDeleted: Bool
    /// A blind-index digest to match.
    public var blindIndexDigest: [UInt8]?

    public init(tenant: TenantID, connection: UUID, stream: String, limit: Int = 100, after: Int64? = nil,
                updatedAfter: Date? = nil, includeDeleted: Bool = false, blindIndexDigest: [UInt8]? = nil) {
        self.tenant = tenant
        self.connection = connection
        self.stream = stream
        self.limit = limit
        self.after = after
        self.updatedAfter = updatedAfter
        self.includeDeleted = includeDeleted
        self.blindIndexDigest = blindIndexDigest
    }
}

/// One record of a page: plain fields as stored JSON text, the sealed blob when present.
public struct RecordRow: Sendable {
    public let key: RecordKey
    public let dataJSON: String
    public let sealed: [UInt8]?
    public let keyVersion: Int?
    public let changeSequence: Int64
    public let syncedAt: Date
    public let deletedAt: Date?
}

extension RecordReader {
    /// The page, and whether more follow.
    public func page(_ query: RecordQuery) async throws -> (rows: [RecordRow], more: Bool) {
        let digest = query.blindIndexDigest.map { ByteBuffer(bytes: $0) }
        return try await withDatabaseErrors("listing records of stream \(query.stream)") {
            var result: [RecordRow] = []
            func add(_ id: String, _ data: String, _ sealed: ByteBuffer?, _ version: Int?, _ sequence: Int64, _ synced: Date, _ deleted: Date?) {
                result.append(RecordRow(key: RecordKey(connection: query.connection, stream: query.stream, externalID: id),
                                        dataJSON: data, sealed: sealed.map { Array($0.readableBytesView) }, keyVersion: version,
                                        changeSequence: sequence, syncedAt: synced, deletedAt: deleted))
            }
            guard let digest else {
                for try await row in try await client.execute(RecordPageStatement(query: query), logger: logger) {
                    add(row.0, row.1, row.2, row.3, row.4, row.5, row.6)
                }
                return (Array(result.prefix(query.limit)), result.count > query.limit)
            }
            let rows = try await client.query(
                """
                SELECT external_id, data::text, sensitive, key_version, change_seq, synced_at, deleted_at FROM records
                WHERE tenant_id = \(query.tenant.rawValue) AND connection_id = \(query.connection) AND stream = \(query.stream)
                  AND change_seq > \(query.after ?? 0)
                  AND (\(query.includeDeleted) OR deleted_at IS NULL)
                  AND (\(query.updatedAfter)::timestamptz IS NULL OR synced_at > \(query.updatedAfter))
                  AND blind_index @> ARRAY[\(digest)::bytea]
                ORDER BY change_seq LIMIT \(query.limit + 1)
                """,
                logger: logger
            )
            for try await (id, data, sealed, version, sequence, synced, deleted) in rows.decode((String, String, ByteBuffer?, Int?, Int64, Date, Date?).self) {
                add(id, data, sealed, version, sequence, synced, deleted)
            }
            return (Array(result.prefix(query.limit)), result.count > query.limit)
        }
    }

    /// Opens a page's sealed fields, writing one audit entry per record in the actor's name.
    public func reveal(_ rows: [RecordRow], tenant: TenantID, to actor: AuditActor) async throws -> [RecordKey: [String: JSONValue]] {
        var revealed: [RecordKey: [String: JSONValue]] = [:]
        var entries: [(RecordKey, [String])] = []
        for row in rows {
            guard let sealed = row.sealed, let version = row.keyVersion else { continue }
            let key = try await keyring.decryptionKey(for: tenant, version: version)
            let context = EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: row.key.rowIdentity)
            let fields = try RecordProtector.reveal(sealed, key: key, context: context).revealed
            entries.append((row.key, fields.keys.sorted()))
            revealed[row.key] = fields
        }
        // Audited before anything decrypted leaves: no entry, no plaintext.
        try await AuditLog(client: client, logger: logger).recordDecryptions(tenant: tenant, actor: actor, records: entries)
        return revealed
    }
}
