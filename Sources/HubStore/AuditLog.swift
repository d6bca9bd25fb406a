import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// Who a decryption is done for: an API key, or an operator at the command line.
public struct AuditActor: Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public let requestID: String?

    public static func apiKey(_ id: UUID, requestID: String?) -> AuditActor {
        AuditActor(description: "api_key:\(id.uuidString.lowercased())", requestID: requestID)
    }

    public static func commandLine(user name: String) -> AuditActor {
        AuditActor(description: "cli:\(name)", requestID: nil)
    }
}

/// An entry of the audit log.
public struct AuditEntry: Sendable {
    public let actor: String
    public let action: String
    public let record: RecordKey?
    public let fields: [String]
    public let requestID: String?
    public let at: Date
}

/// The `audit_log` table: every read of sensitive fields in clear.
public struct AuditLog: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func recordDecryption(tenant: TenantID, actor: AuditActor, record: RecordKey, fields: [String]) async throws {
        try await withDatabaseErrors("writing the audit log") {
            try await client.query(
                """
                INSERT INTO audit_log (tenant_id, actor, action, connection_id, stream, external_id, fields, request_id)
                VALUES (\(tenant.rawValue), \(actor.description), 'decrypt', \(record.connection), \(record.stream),
                        \(record.externalID), \(fields), \(actor.requestID))
                """,
                logger: logger
            )
        }
    }

    /// One entry per record, written in one statement (a page of records is one round trip,
    /// not one commit per record).
    public func recordDecryptions(tenant: TenantID, actor: AuditActor, records: [(RecordKey, [String])]) async throws {
        guard !records.isEmpty else { return }
        // Field lists travel joined by the unit separator: unnest would flatten a text[][] .
        let separator = "\u{1F}"
        let connections = records.map(\.0.connection), streams = records.map(\.0.stream), ids = records.map(\.0.externalID)
        let fields = records.map { $0.1.joined(separator: separator) }
        try await withDatabaseErrors("writing the audit log") {
            try await client.query(
                """
                INSERT INTO audit_log (tenant_id, actor, action, connection_id, stream, external_id, fields, request_id)
                SELECT \(tenant.rawValue), \(actor.description), 'decrypt', r.c, r.s, r.e,
                       CASE WHEN r.f = '' THEN '{}'::text[] ELSE string_to_array(r.f, \(separator)) END, \(actor.requestID)
                FROM unnest(\(connections)::uuid[], \(streams)::text[], \(ids)::text[], \(fields)::text[]) AS r(c, s, e, f)
                """,
                logger: logger
            )
        }
    }

    public func entries(tenant: TenantID, limit: Int = 100) async throws -> [AuditEntry] {
        try await withDatabaseErrors("reading the audit log") {
            let rows = try await client.query(
                """
                SELECT actor, action, connection_id, stream, external_id, fields, request_id, at FROM audit_log
                WHERE tenant_id = \(tenant.rawValue) ORDER BY id DESC LIMIT \(limit)
                """,
                logger: logger
            )
            var entries: [AuditEntry] = []
            for try await (actor, action, connection, stream, externalID, fields, requestID, at)
                in rows.decode((String, String, UUID?, String?, String?, [String], String?, Date).self)
            {
                let record = connection.flatMap { id in
                    stream.flatMap { s in externalID.map { RecordKey(connection: id, stream: s, externalID: $0) } }
                }
                entries.append(AuditEntry(actor: actor, action: action, record: record, fields: fields, requestID: requestID, at: at))
            }
            return entries
        }
    }

    /// Deletes entries written before `cutoff` (the audit retention); returns how many.
    @discardableResult
    public func prune(before cutoff: Date) async throws -> Int {
        try await Pruning.inBatches("pruning the audit log", client: client, logger: logger) {
            """
            WITH gone AS (
                DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < \(cutoff) LIMIT \(Pruning.batchSize))
                RETURNING 1
            )
            SELECT count(*)::int8 FROM gone
            """
        }
    }
}
