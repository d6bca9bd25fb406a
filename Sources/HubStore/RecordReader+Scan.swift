import Foundation
import HubCore
import HubCrypto
import HubDatabase
import PostgresNIO

extension RecordReader {
    /// A stored record whole again: its plain and its decrypted sensitive fields together.
    public struct ScannedRecord: Sendable {
        public let externalID: String
        public let fields: [String: JSONValue]
        public let sourceUpdatedAt: Date?
        /// Its change sequence when read: `changedSince` tells a record rewritten since.
        public let changeSequence: Int64
    }

    /// The streams of a connection that hold live records.
    public func streams(tenant: TenantID, connection: UUID) async throws -> [String] {
        try await withDatabaseErrors("listing the streams of connection \(connection)") {
            var streams: [String] = []
            for try await stream in try await client.query(
                "SELECT DISTINCT stream FROM records WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection) AND deleted_at IS NULL ORDER BY stream",
                logger: logger
            ).decode(String.self) { streams.append(stream) }
            return streams
        }
    }

    /// The live records of one stream in external-id order after `after`, sensitive fields
    /// decrypted, for re-deriving what is derived from them inside the worker. Not audited:
    /// nothing read here leaves the process, as nothing a sync reads does.
    public func scan(tenant: TenantID, connection: UUID, stream: String, after: String?, limit: Int) async throws -> [ScannedRecord] {
        let rows = try await withDatabaseErrors("reading records of stream \(stream)") { () -> [(String, String, ByteBuffer?, Int?, Date?, Int64)] in
            var rows: [(String, String, ByteBuffer?, Int?, Date?, Int64)] = []
            for try await row in try await client.query(
                """
                SELECT external_id, data::text, sensitive, key_version, source_updated_at, change_seq FROM records
                WHERE connection_id = \(connection) AND stream = \(stream) AND tenant_id = \(tenant.rawValue)
                  AND deleted_at IS NULL AND external_id > \(after ?? "")
                ORDER BY external_id LIMIT \(limit)
                """,
                logger: logger
            ).decode((String, String, ByteBuffer?, Int?, Date?, Int64).self) { rows.append(row) }
            return rows
        }
        var records: [ScannedRecord] = []
        records.reserveCapacity(rows.count)
        for (externalID, dataText, sealed, keyVersion, sourceUpdatedAt, sequence) in rows {
            guard var fields = try? JSONDecoder().decode([String: JSONValue].self, from: Data(dataText.utf8)) else {
                throw HubError(.storedDataInvalid, "record \(externalID) of stream \(stream) holds data that is not a JSON object")
            }
            if let sealed, let keyVersion {
                let key = RecordKey(connection: connection, stream: stream, externalID: externalID)
                let dataKey = try await keyring.decryptionKey(for: tenant, version: keyVersion)
                let context = EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: key.rowIdentity)
                for (name, value) in try RecordProtector.reveal(Array(sealed.readableBytesView), key: dataKey, context: context).revealed {
                    fields[name] = value
                }
            }
            records.append(ScannedRecord(externalID: externalID, fields: fields, sourceUpdatedAt: sourceUpdatedAt, changeSequence: sequence))
        }
        return records
    }

    /// Which of `records` were rewritten or deleted since they were scanned, read in
    /// `database`'s transaction: what derives from them there must not overwrite what a sync
    /// derived from their newer version.
    public func changedSince(_ records: [ScannedRecord], tenant: TenantID, connection: UUID, stream: String,
                             on database: PostgresConnection) async throws -> Set<String> {
        guard !records.isEmpty else { return [] }
        return try await withDatabaseErrors("checking records of stream \(stream) for changes") {
            var changed = Set<String>()
            for try await id in try await database.query(
                """
                SELECT k.x FROM unnest(\(records.map(\.externalID))::text[], \(records.map(\.changeSequence))::int8[]) AS k(x, seq)
                LEFT JOIN records r ON r.connection_id = \(connection) AND r.stream = \(stream) AND r.external_id = k.x
                                   AND r.tenant_id = \(tenant.rawValue)
                WHERE r.external_id IS NULL OR r.change_seq <> k.seq OR r.deleted_at IS NOT NULL
                """,
                logger: logger
            ).decode(String.self) { changed.insert(id) }
            return changed
        }
    }
}
