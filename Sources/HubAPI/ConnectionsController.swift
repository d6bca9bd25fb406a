import Foundation
import HubCore
import HubCrypto
import HubStore
import HubSync
import Hummingbird
import Logging
import PostgresNIO

/// `/v1/connections`: list and show a tenant's connections (never their credentials), start
/// syncs and list their runs.
struct ConnectionsController: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("/connections") { request, context in try await list(request, context) }
        group.get("/connections/:id") { request, context in try await show(request, context) }
        group.post("/connections/:id/syncs") { request, context in try await startSync(request, context) }
        group.get("/connections/:id/syncs") { request, context in try await listSyncs(request, context) }
    }

    /// The tenant a key acts for, when it may read (`records:read` or `connections:write`).
    static func tenant(_ context: APIRequestContext, writing: Bool = false) throws -> (TenantID, ApiIdentity) {
        guard let identity = context.identity, let tenant = identity.tenant else {
            throw Problem(status: .forbidden, code: "forbidden", title: "Forbidden", detail: "connections belong to a tenant; use a tenant's API key")
        }
        if writing {
            guard identity.allows(.connectionsWrite) else { throw Problem.forbidden(.connectionsWrite) }
        } else {
            guard identity.allows(.recordsRead) || identity.allows(.connectionsWrite) else { throw Problem.forbidden(.recordsRead) }
        }
        return (tenant, identity)
    }

    func connectionID(_ context: APIRequestContext) throws -> UUID {
        guard let raw = context.parameters.get("id"), let id = UUID(uuidString: raw) else {
            throw Problem.invalid(["id": "must be a connection id (UUID)"])
        }
        return id
    }

    func list(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let (tenant, _) = try Self.tenant(context)
        let connections = try await ConnectionStore(client: client, keyring: keyring, logger: logger).list(tenant: tenant)
        return try JSONResponse.make(.object([
            "data": .array(connections.map(Self.json)), "next_cursor": .null,
        ]))
    }

    func show(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let (tenant, _) = try Self.tenant(context)
        let id = try connectionID(context)
        let syncs = SyncStore(client: client, logger: logger)
        let info = try await syncs.connection(id, tenant: tenant)
        let latest = try await syncs.runs(connection: id, tenant: tenant, latestPerStream: true)
        let summary = try await ConnectionStore(client: client, keyring: keyring, logger: logger).list(tenant: tenant).first { $0.id == id }
        guard let summary else { throw HubError(.notFound, "connection \(id) not found") }
        var object = Self.json(summary)
        if case .object(var fields) = object {
            fields["config"] = info.config
            fields["streams"] = .array(latest.map(Self.json))
            object = .object(fields)
        }
        return try JSONResponse.make(object)
    }

    func startSync(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let (tenant, _) = try Self.tenant(context, writing: true)
        let id = try connectionID(context)
        var buffer = try await request.body.collect(upTo: 64 << 10)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        var streams: [String]?
        var fullRefresh = false
        if !bytes.isEmpty {
            guard case .object(let body)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
                throw Problem.invalid(["body": "must be a JSON object such as {\"stream\": \"contacts\", \"full_refresh\": false}"])
            }
            var errors: [String: String] = [:]
            switch body["stream"] {
            case nil: break
            case .string(let stream)?: streams = [stream]
            default: errors["stream"] = "must be a stream name"
            }
            switch body["full_refresh"] {
            case nil: break
            case .bool(let flag)?: fullRefresh = flag
            default: errors["full_refresh"] = "must be true or false"
            }
            for key in body.keys where !["stream", "full_refresh"].contains(key) { errors[key] = "is not a field of this request" }
            if !errors.isEmpty { throw Problem.invalid(errors) }
        }
        let started = try await SyncService(client: client, logger: logger).start(connection: id, tenant: tenant, streams: streams, fullRefresh: fullRefresh)
        return try JSONResponse.make(.object(["data": .array(started.map { entry in
            .object(["stream": .string(entry.stream), "run_id": .number(Double(entry.run)), "job_id": .number(Double(entry.job))])
        })]), status: .accepted)
    }

    func listSyncs(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let (tenant, _) = try Self.tenant(context)
        let id = try connectionID(context)
        let query = request.uri.queryParameters
        var errors: [String: String] = [:]
        var limit = 50
        if let raw = query["limit"] {
            if let value = Int(raw), (1...500).contains(value) { limit = value } else { errors["limit"] = "must be a number from 1 to 500" }
        }
        var before: Int64?
        if let raw = query["cursor"] {
            if let value = RecordCursor.decode(String(raw)) { before = value } else { errors["cursor"] = "is not a cursor this API returned" }
        }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        _ = try await SyncStore(client: client, logger: logger).connection(id, tenant: tenant)
        let runs = try await SyncStore(client: client, logger: logger).runs(connection: id, tenant: tenant, latestPerStream: false,
                                                                             limit: limit + 1, before: before)
        let page = Array(runs.prefix(limit))
        let next: JSONValue = runs.count > limit ? .string(RecordCursor.encode(page.last!.id)) : .null
        return try JSONResponse.make(.object(["data": .array(page.map(Self.json)), "next_cursor": next]))
    }

    static func json(_ summary: ConnectionStore.Summary) -> JSONValue {
        .object([
            "id": .string(summary.id.uuidString.lowercased()), "connector": .string(summary.connector),
            "connector_version": .number(Double(summary.connectorVersion)), "account": .string(summary.externalAccount),
            "status": .string(summary.status),
            "last_error": summary.lastError.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) } ?? .null,
            "created_at": .string(RFC3339.string(summary.createdAt)),
        ])
    }

    static func json(_ run: SyncStore.RunSummary) -> JSONValue {
        .object([
            "id": .number(Double(run.id)), "stream": .string(run.stream), "status": .string(run.status),
            "full_refresh": .bool(run.fullRefresh), "records_read": .number(Double(run.recordsRead)),
            "records_written": .number(Double(run.recordsWritten)), "records_deleted": .number(Double(run.recordsDeleted)),
            "pages": .number(Double(run.pages)),
            "error": run.error.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) } ?? .null,
            "created_at": .string(RFC3339.string(run.createdAt)),
            "started_at": run.startedAt.map { .string(RFC3339.string($0)) } ?? .null,
            "finished_at": run.finishedAt.map { .string(RFC3339.string($0)) } ?? .null,
        ])
    }
}
