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
        let rows = try await withDatabaseErrors("reading records of stream \(stream)") { () -> [(String, String, ByteBuffer?, Int?, Date?)] in
            var rows: [(String, String, ByteBuffer?, Int?, Date?)] = []
            for try await row in try await client.query(
                """
                SELECT external_id, data::text, sensitive, key_version, source_updated_at FROM records
                WHERE connection_id = \(connection) AND stream = \(stream) AND tenant_id = \(tenant.rawValue)
                  AND deleted_at IS NULL AND external_id > \(after ?? "")
                ORDER BY external_id LIMIT \(limit)
                """,
                logger: logger
            ).decode((String, String, ByteBuffer?, Int?, Date?).self) { rows.append(row) }
            return rows
        }
        var records: [ScannedRecord] = []
        records.reserveCapacity(rows.count)
        for (externalID, dataText, sealed, keyVersion, sourceUpdatedAt) in rows {
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
            records.append(ScannedRecord(externalID: externalID, fields: fields, sourceUpdatedAt: sourceUpdatedAt))
        }
        return records
    }
}
