import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import Hummingbird
import Logging
import PostgresNIO

/// `GET /v1/records`: a stream's records for the key's tenant, in change order with an opaque
/// keyset cursor; blind-indexed fields filter without decryption; sensitive fields are
/// decrypted (and audited) only for keys with `records:read-sensitive`, masked otherwise.
struct RecordsController: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger
    let definitions: ConnectorCatalog

    static let reserved: Set<String> = ["connection_id", "stream", "limit", "cursor", "updated_after", "include_deleted"]
    static let mask = "***"

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("/records") { request, context in try await list(request, context) }
    }

    func list(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        guard let identity = context.identity, let tenant = identity.tenant else {
            throw Problem(status: .forbidden, code: "forbidden", title: "Forbidden", detail: "records belong to a tenant; use a tenant's API key")
        }
        guard identity.allows(.recordsRead) else { throw Problem.forbidden(.recordsRead) }
        let query = request.uri.queryParameters
        var errors: [String: String] = [:]
        let connection = query["connection_id"].flatMap { UUID(uuidString: String($0)) }
        if connection == nil { errors["connection_id"] = query["connection_id"] == nil ? "is required" : "must be a connection id (UUID)" }
        let stream = query["stream"].map(String.init)
        if stream?.isEmpty ?? true { errors["stream"] = "is required" }
        var limit = 100
        if let raw = query["limit"] {
            if let value = Int(raw), (1...1000).contains(value) { limit = value } else { errors["limit"] = "must be a number from 1 to 1000" }
        }
        var after: Int64?
        if let raw = query["cursor"] {
            if let value = RecordCursor.decode(String(raw)) { after = value } else { errors["cursor"] = "is not a cursor this API returned" }
        }
        var updatedAfter: Date?
        if let raw = query["updated_after"] {
            if let value = try? Date(String(raw), strategy: .iso8601) { updatedAfter = value } else { errors["updated_after"] = "must be an RFC 3339 time such as 2024-06-01T12:00:00Z" }
        }
        var includeDeleted = false
        if let raw = query["include_deleted"] {
            switch raw { case "true": includeDeleted = true; case "false": break; default: errors["include_deleted"] = "must be true or false" }
        }
        let filters = query.filter { !Self.reserved.contains(String($0.key)) }
        guard errors.isEmpty, let connection, let stream else { throw Problem.invalid(errors) }

        // 404 for another tenant's connection, as for one that does not exist.
        let info = try await SyncStore(client: client, logger: logger).connection(connection, tenant: tenant)
        let definition = try await definitions.definition(name: info.connector, version: info.connectorVersion)
        guard definition.source.streamNames.contains(stream) else {
            throw Problem.invalid(["stream": "connector \(info.connector) has no stream \(stream)"])
        }
        let policy = definition.sidecar.streams[stream]
        var digest: [UInt8]?
        if filters.count > 1 { throw Problem.invalid(["filters": "filter on one blind-indexed field at a time"]) }
        if let (name, value) = filters.first.map({ (String($0.key), String($0.value)) }) {
            guard let field = policy?.blindIndexes.first(where: { $0.name == name }) else {
                let indexed = policy?.blindIndexes.map(\.name) ?? []
                throw Problem.invalid([name: indexed.isEmpty ? "is not a parameter, and stream \(stream) has no blind-indexed fields"
                                                             : "is not a parameter or a blind-indexed field (those are: \(indexed.joined(separator: ", ")))"])
            }
            digest = BlindIndex.digest(value, field: field, key: try await keyring.indexKey(for: tenant))
        }
        let reader = RecordReader(client: client, keyring: keyring, logger: logger)
        let (rows, more) = try await reader.page(RecordQuery(
            tenant: tenant, connection: connection, stream: stream, limit: limit, after: after,
            updatedAfter: updatedAfter, includeDeleted: includeDeleted, blindIndexDigest: digest
        ))
        var revealed: [RecordKey: [String: JSONValue]] = [:]
        if identity.allows(.recordsReadSensitive) {
            revealed = try await reader.reveal(rows, tenant: tenant, to: .apiKey(identity.keyID, requestID: context.requestID))
        }
        let sensitiveNames = policy?.sensitive ?? []
        let items: [JSONValue] = rows.map { row in
            var data = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(row.dataJSON.utf8))) ?? [:]
            if let fields = revealed[row.key] {
                for (name, value) in fields { data[name] = value }
            } else if row.sealed != nil {
                for name in sensitiveNames { data[name] = .string(Self.mask) }
            }
            return .object([
                "id": .string(row.key.externalID), "connection_id": .string(connection.uuidString.lowercased()),
                "stream": .string(stream), "data": .object(data),
                "synced_at": .string(RFC3339.string(row.syncedAt)),
                "deleted_at": row.deletedAt.map { .string(RFC3339.string($0)) } ?? .null,
            ])
        }
        let next: JSONValue = more ? .string(RecordCursor.encode(rows.last!.changeSequence)) : .null
        return try JSONResponse.make(.object(["data": .array(items), "next_cursor": next]))
    }
}

/// The opaque cursor: the last change sequence seen, base64url-encoded with a version tag.
enum RecordCursor {
    static func encode(_ sequence: Int64) -> String {
        Data("v1:\(sequence)".utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> Int64? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8), plain.hasPrefix("v1:"),
              let value = Int64(plain.dropFirst(3)), value >= 0 else { return nil }
        return value
    }
}

enum RFC3339 {
    static func string(_ date: Date) -> String { date.formatted(.iso8601) }
}

enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
