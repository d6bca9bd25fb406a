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

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        routes.group(context: TenantRequestContext.self).get("/records") { request, context in try await list(request, context) }
    }

    func list(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead)
        let (identity, tenant) = (context.identity, context.tenant)
        let parameters = try RecordListRequest.parse(request)
        let (connection, stream) = (parameters.connection, parameters.stream)

        // 404 for another tenant's connection, as for one that does not exist.
        let info = try await ConnectionStore(client: client, logger: logger).connection(connection, tenant: tenant)
        let definition = try await definitions.definition(name: info.connector, version: info.connectorVersion)
        guard definition.streamNames.contains(stream) else {
            throw Problem.invalid(["stream": "connector \(info.connector) has no stream \(stream)"])
        }
        let policy = definition.sidecar.streams[stream]
        var digest: [UInt8]?
        if parameters.filters.count > 1 { throw Problem.invalid(["filters": "filter on one blind-indexed field at a time"]) }
        if let (name, value) = parameters.filters.first {
            guard let field = policy?.blindIndexes.first(where: { $0.name == name }) else {
                let indexed = policy?.blindIndexes.map(\.name) ?? []
                throw Problem.invalid([name: indexed.isEmpty ? "is not a parameter, and stream \(stream) has no blind-indexed fields"
                                                             : "is not a parameter or a blind-indexed field (those are: \(indexed.joined(separator: ", ")))"])
            }
            digest = BlindIndex.digest(value, field: field, key: try await keyring.indexKey(for: tenant))
        }
        let reader = RecordReader(client: client, keyring: keyring, logger: logger)
        let (rows, more) = try await reader.page(RecordQuery(
            tenant: tenant, connection: connection, stream: stream, limit: parameters.limit, after: parameters.after,
            updatedAfter: parameters.updatedAfter, includeDeleted: parameters.includeDeleted, blindIndexDigest: digest
        ))
        var revealed: [RecordKey: [String: JSONValue]] = [:]
        if identity.allows(.recordsReadSensitive) {
            revealed = try await reader.reveal(rows, tenant: tenant, to: .apiKey(identity.keyID, requestID: context.requestID))
        }
        let body = RecordPage(connection: connection, stream: stream, sensitiveNames: (policy?.sensitive ?? []).sorted())
            .encode(rows, revealed: revealed, more: more)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The records cursor: the last change sequence seen, in the list cursor format under the
/// tag `v1` (the records API's first, kept so cursors clients hold stay valid).
enum RecordCursor {
    static func encode(_ sequence: Int64) -> String {
        ListCursor.encode(String(sequence), kind: "v1")
    }

    static func decode(_ text: String) -> Int64? {
        guard let key = ListCursor.decode(text, kind: "v1"), let value = Int64(key), value >= 0 else { return nil }
        return value
    }
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
