import Foundation
import HubAirbyteProcess
import HubCore
import HubConnectors
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
    let definitions: ConnectorCatalog
    let processes: (any ProcessCommandResolver)?
    let body: RequestBody

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let group = routes.group(context: TenantRequestContext.self)
        group.get("/connections") { request, context in try await list(request, context) }
        group.post("/connections") { request, context in try await create(request, context) }
        group.patch("/connections/:id") { request, context in try await update(request, context) }
        group.delete("/connections/:id") { _, context in try await delete(context) }
        group.get("/connections/:id") { request, context in try await show(request, context) }
        group.post("/connections/:id/syncs") { request, context in try await startSync(request, context) }
        group.get("/connections/:id/syncs") { request, context in try await listSyncs(request, context) }
    }

    func connectionID(_ context: TenantRequestContext) throws -> UUID {
        guard let raw = context.parameters.get("id"), let id = UUID(uuidString: raw) else {
            throw Problem.invalid(["id": "must be a connection id (UUID)"])
        }
        return id
    }

    func list(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead, .connectionsWrite)
        let tenant = context.tenant
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: "connections", errors: &errors)
        guard errors.isEmpty, let before = ListCursor.timeKey(page.after) else {
            throw Problem.invalid(errors.isEmpty ? ["cursor": "is not a cursor this list returned"] : errors)
        }
        let connections = try await ConnectionStore(client: client, keyring: keyring, logger: logger)
            .list(tenant: tenant, limit: page.limit + 1, before: before)
        let shown = Array(connections.prefix(page.limit))
        let next: JSONValue = connections.count > page.limit
            ? .string(ListCursor.encode("\(shown.last!.createdAtMicros),\(shown.last!.id)", kind: "connections")) : .null
        return try JSONResponse.make(.object(["data": .array(shown.map(Self.json)), "next_cursor": next]))
    }

    /// The request's JSON object body.
    func requestObject(_ request: Request) async throws -> [String: JSONValue] {
        try await body.object(request, expected: "must be a JSON object") ?? [:]
    }

    func create(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.connectionsWrite)
        let tenant = context.tenant
        let body = try await requestObject(request)
        var errors: [String: String] = [:]
        let connector = body["connector"]?.stringValue
        if connector == nil { errors["connector"] = "is required" }
        var version: Int?
        if let raw = body["version"] {
            if case .number(let number) = raw, number.rounded() == number, number >= 1, number < 1e9 { version = Int(number) } else { errors["version"] = "must be a version number" }
        }
        var account = ""
        if let raw = body["account"] {
            if case .string(let text) = raw, text.count <= ConnectionService.maxAccountLength { account = text } else { errors["account"] = "must be a string of at most 200 characters" }
        }
        var config: [String: JSONValue] = [:]
        switch body["config"] {
        case .object(let object)?: config = object
        case nil: errors["config"] = "is required: the connector's configuration, credentials included"
        default: errors["config"] = "must be an object"
        }
        var schedule: Int?
        if let raw = body["schedule_seconds"] {
            if case .number(let number) = raw, number.rounded() == number, ConnectionService.scheduleRange.contains(Int(exactly: number) ?? 0) {
                schedule = Int(number)
            } else {
                errors["schedule_seconds"] = "must be a number of seconds from 60 to 31536000"
            }
        }
        for key in body.keys where !["connector", "version", "account", "config", "schedule_seconds"].contains(key) {
            errors[key] = "is not a field of this request"
        }
        guard errors.isEmpty, let connector else { throw Problem.invalid(errors) }
        let (id, _) = try await ConnectionService(client: client, keyring: keyring, catalog: definitions, processes: processes, logger: logger).create(
            .init(tenant: tenant, connector: connector, version: version, account: account, config: config, scheduleSeconds: schedule)
        )
        let connections = ConnectionStore(client: client, keyring: keyring, logger: logger)
        guard let summary = try await connections.summary(tenant: tenant, id: id) else {
            throw HubError(.internalError, "the new connection disappeared")
        }
        return try JSONResponse.make(Self.json(summary), status: .created)
    }

    func update(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.connectionsWrite)
        let tenant = context.tenant
        let id = try connectionID(context)
        let body = try await requestObject(request)
        var errors: [String: String] = [:]
        var status: ConnectionStatus?
        if let raw = body["status"] {
            if case .string(let text) = raw, let chosen = ConnectionStatus(rawValue: text), ConnectionStatus.settable.contains(chosen) {
                status = chosen
            } else {
                errors["status"] = "must be \(ConnectionStatus.described(ConnectionStatus.settable))"
            }
        }
        var schedule: Int??
        if let raw = body["schedule_seconds"] {
            switch raw {
            case .null: schedule = .some(nil)
            case .number(let number) where number.rounded() == number && number >= 60 && number <= 31_536_000: schedule = .some(Int(number))
            default: errors["schedule_seconds"] = "must be a number of seconds from 60 to 31536000, or null for the connector's schedule"
            }
        }
        var config: [String: JSONValue]?
        if let raw = body["config"] {
            if case .object(let object) = raw { config = object } else { errors["config"] = "must be an object" }
        }
        // A connection runs the version it was created with until its owner upgrades it here:
        // an operator publishing a new version changes no existing connection.
        var upgrade: Int?
        if let raw = body["connector_version"] {
            if case .number(let number) = raw, number.rounded() == number, number >= 1, number < 1e9 { upgrade = Int(number) } else { errors["connector_version"] = "must be a version number" }
        }
        for key in body.keys where !["status", "schedule_seconds", "config", "connector_version"].contains(key) { errors[key] = "is not a field of this request" }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        try await ConnectionService(client: client, keyring: keyring, catalog: definitions, processes: processes, logger: logger).update(
            .init(tenant: tenant, connection: id, status: status, scheduleSeconds: schedule, config: config, connectorVersion: upgrade)
        )
        let connections = ConnectionStore(client: client, logger: logger)
        guard let summary = try await connections.summary(tenant: tenant, id: id) else {
            throw HubError(.notFound, "connection \(id) not found")
        }
        return try JSONResponse.make(Self.json(summary))
    }

    func delete(_ context: TenantRequestContext) async throws -> Response {
        try context.require(.connectionsWrite)
        let tenant = context.tenant
        let id = try connectionID(context)
        guard try await ConnectionStore(client: client, keyring: keyring, logger: logger).delete(tenant: tenant, connection: id) else {
            throw HubError(.notFound, "connection \(id) not found")
        }
        return Response(status: .noContent)
    }

    func show(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead, .connectionsWrite)
        let tenant = context.tenant
        let id = try connectionID(context)
        let connections = ConnectionStore(client: client, logger: logger)
        guard let summary = try await connections.summary(tenant: tenant, id: id) else {
            throw HubError(.notFound, "connection \(id) not found")
        }
        let info = try await connections.connection(id, tenant: tenant)
        let latest = try await RunStore(client: client, logger: logger).runs(connection: id, tenant: tenant, latestPerStream: true)
        var object = Self.json(summary)
        if case .object(var fields) = object {
            fields["config"] = info.config
            fields["streams"] = .array(latest.map(Self.json))
            object = .object(fields)
        }
        return try JSONResponse.make(object)
    }

    func startSync(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.connectionsWrite)
        let tenant = context.tenant
        let id = try connectionID(context)
        var streams: [String]?
        var fullRefresh = false
        if let body = try await body.object(request, expected: #"must be a JSON object such as {"stream": "contacts", "full_refresh": false}"#,
                                            optional: true) {
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

    func listSyncs(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead, .connectionsWrite)
        let tenant = context.tenant
        let id = try connectionID(context)
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: "syncs", errors: &errors)
        let before = page.after.map { Int64($0) }
        if before == .some(nil) { errors["cursor"] = "is not a cursor this list returned" }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        _ = try await ConnectionStore(client: client, logger: logger).connection(id, tenant: tenant)
        let runs = try await RunStore(client: client, logger: logger).runs(connection: id, tenant: tenant, latestPerStream: false, limit: page.limit + 1, before: before ?? nil)
        let shown = Array(runs.prefix(page.limit))
        let next: JSONValue = runs.count > page.limit ? .string(ListCursor.encode(String(shown.last!.id), kind: "syncs")) : .null
        return try JSONResponse.make(.object(["data": .array(shown.map(Self.json)), "next_cursor": next]))
    }

    static func json(_ summary: ConnectionStore.Summary) -> JSONValue {
        .object([
            "id": .string(summary.id.uuidString.lowercased()), "connector": .string(summary.connector),
            "connector_version": .number(Double(summary.connectorVersion)), "account": .string(summary.externalAccount),
            "status": .string(summary.status.rawValue),
            "last_error": summary.lastError.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) } ?? .null,
            "created_at": .string(RFC3339.string(summary.createdAt)),
        ])
    }

    static func json(_ run: RunStore.RunSummary) -> JSONValue {
        .object([
            "id": .number(Double(run.id)), "stream": .string(run.stream), "status": .string(run.status.rawValue),
            "full_refresh": .bool(run.fullRefresh), "records_read": .number(Double(run.recordsRead)),
            "records_written": .number(Double(run.recordsWritten)), "records_deleted": .number(Double(run.recordsDeleted)),
            "pages": .number(Double(run.pages)),
            "partitions": .number(Double(run.partitions)), "partitions_settled": .number(Double(run.partitionsSettled)),
            "attempts": .number(Double(run.attempts.count)),
            "last_attempt": .object([
                "records_read": .number(Double(run.attempts.lastRead)), "records_written": .number(Double(run.attempts.lastWritten)),
                "pages": .number(Double(run.attempts.lastPages)),
            ]),
            "error": run.error.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) } ?? .null,
            "created_at": .string(RFC3339.string(run.createdAt)),
            "started_at": run.startedAt.map { .string(RFC3339.string($0)) } ?? .null,
            "finished_at": run.finishedAt.map { .string(RFC3339.string($0)) } ?? .null,
        ])
    }
}
