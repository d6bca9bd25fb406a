import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// A stored record as read back: plain fields, and the sensitive ones only when revealed.
public struct StoredRecord: Sendable {
    public let key: RecordKey
    public let data: [String: JSONValue]
    /// nil unless the read asked to reveal them (and the caller was allowed to).
    public let sensitive: Secret<[String: JSONValue]>?
    public let keyVersion: Int?
    public let changeSequence: Int64
}

/// Reads records of one tenant; revealing sensitive fields is audited.
public struct RecordReader: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger

    public init(client: PostgresClient, keyring: Keyring, logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.logger = logger
    }

    /// One record; with `revealTo`, its sensitive fields decrypted and the read written to
    /// the audit log in the name of that actor.
    public func record(tenant: TenantID, key: RecordKey, revealTo actor: AuditActor? = nil) async throws -> StoredRecord {
        let row = try await withDatabaseErrors("reading a record") { () -> (String, ByteBuffer?, Int?, Int64)? in
            let rows = try await client.query(
                """
                SELECT data::text, sensitive, key_version, change_seq FROM records
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(key.connection)
                  AND stream = \(key.stream) AND external_id = \(key.externalID)
                """,
                logger: logger
            )
            for try await row in rows.decode((String, ByteBuffer?, Int?, Int64).self) { return row }
            return nil
        }
        guard let (dataText, sealed, keyVersion, sequence) = row else {
            throw HubError(.notFound, "record \(key.externalID) of stream \(key.stream) not found")
        }
        guard let data = try? JSONDecoder().decode([String: JSONValue].self, from: Data(dataText.utf8)) else {
            throw HubError(.storedDataInvalid, "record \(key.externalID) of stream \(key.stream) holds data that is not a JSON object")
        }
        var sensitive: Secret<[String: JSONValue]>?
        if let actor, let sealed, let keyVersion {
            let dataKey = try await keyring.decryptionKey(for: tenant, version: keyVersion)
            let context = EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: key.rowIdentity)
            let revealed = try RecordProtector.reveal(Array(sealed.readableBytesView), key: dataKey, context: context)
            try await AuditLog(client: keyring.vault(or: client), logger: logger).recordDecryption(
                tenant: tenant, actor: actor, record: key, fields: revealed.revealed.keys.sorted()
            )
            sensitive = revealed
        }
        return StoredRecord(key: key, data: data, sensitive: sensitive, keyVersion: keyVersion, changeSequence: sequence)
    }

    /// Records of the tenant whose `field` equals `value` after normalizing, found through the
    /// blind index without decrypting anything.
    public func find(tenant: TenantID, field: BlindIndexField, value: String) async throws -> [RecordKey] {
        let indexKey = try await keyring.indexKey(for: tenant)
        let digest = ByteBuffer(bytes: BlindIndex.digest(value, field: field, key: indexKey))
        return try await withDatabaseErrors("looking up records by \(field.name)") {
            let rows = try await client.query(
                """
                SELECT connection_id, stream, external_id FROM records
                WHERE tenant_id = \(tenant.rawValue) AND blind_index @> ARRAY[\(digest)]::bytea[] AND deleted_at IS NULL
                ORDER BY connection_id, stream, external_id
                """,
                logger: logger
            )
            var keys: [RecordKey] = []
            for try await (connection, stream, externalID) in rows.decode((UUID, String, String).self) {
                keys.append(RecordKey(connection: connection, stream: stream, externalID: externalID))
            }
            return keys
        }
    }
}
