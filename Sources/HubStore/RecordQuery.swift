import Foundation
import HubCore
import HubCrypto
import HubDatabase
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

    public init(key: RecordKey, dataJSON: String, sealed: [UInt8]?, keyVersion: Int?, changeSequence: Int64, syncedAt: Date,
                deletedAt: Date?) {
        self.key = key
        self.dataJSON = dataJSON
        self.sealed = sealed
        self.keyVersion = keyVersion
        self.changeSequence = changeSequence
        self.syncedAt = syncedAt
        self.deletedAt = deletedAt
    }
}

extension RecordReader {
    /// The page, and whether more follow.
    public func page(_ query: RecordQuery) async throws -> (rows: [RecordRow], more: Bool) {
        try await withDatabaseErrors("listing records of stream \(query.stream)") {
            let statement = RecordPageStatement(query: query)
            let rows: AsyncThrowingMapSequence<PostgresRowSequence, RecordPageStatement.Row>
            if let digest = query.blindIndexDigest {
                var bindings = try statement.makeBindings()
                bindings.append(ByteBuffer(bytes: digest))
                rows = try await client.query(PostgresQuery(unsafeSQL: RecordPageStatement.lookupSQL, binds: bindings), logger: logger)
                    .map { try statement.decodeRow($0) }
            } else {
                rows = try await client.execute(statement, logger: logger)
            }
            var result: [RecordRow] = []
            for try await (id, data, sealed, version, sequence, synced, deleted) in rows {
                result.append(RecordRow(key: RecordKey(connection: query.connection, stream: query.stream, externalID: id),
                                        dataJSON: data, sealed: sealed.map { Array($0.readableBytesView) }, keyVersion: version,
                                        changeSequence: sequence, syncedAt: synced, deletedAt: deleted))
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
        try await AuditLog(client: keyring.vault(or: client), logger: logger).recordDecryptions(tenant: tenant, actor: actor, records: entries)
        return revealed
    }
}
