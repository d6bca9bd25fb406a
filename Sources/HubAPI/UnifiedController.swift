import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import Hummingbird
import Logging
import PostgresNIO

/// `/v1/unified/{model}`: the key's tenant's unified entities, each with its fields merged
/// from its sources by the model's survivorship rules. Sensitive fields come back in clear
/// only for `records:read-sensitive` keys, and each such read is audited, as on `/v1/records`.
struct UnifiedController: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger
    let models: ModelCache

    /// The most source records `include=raw` reads for one entity.
    static let maxRawSources = 100

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let group = routes.group(context: TenantRequestContext.self)
        group.get("/unified/:model") { request, context in try await list(request, context) }
        group.get("/unified/:model/changes") { request, context in try await changes(request, context) }
        group.get("/unified/:model/:id") { request, context in try await show(request, context) }
    }

    func model(_ context: TenantRequestContext) async throws -> UnifiedModel {
        guard let name = context.parameters.get("model"), UnifiedModel.isValidName(name) else {
            throw Problem.invalid(["model": "must be a model name: lower-case letters, digits, _ and -"])
        }
        guard let model = try await models.latest(name) else {
            throw HubError(.notFound, "no model named \(name)")
        }
        return model
    }

    func actor(_ context: TenantRequestContext) -> AuditActor? {
        context.identity.allows(.recordsReadSensitive) ? .apiKey(context.identity.keyID, requestID: context.requestID) : nil
    }

    func list(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead)
        let model = try await self.model(context)
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: "unified:\(model.name)", errors: &errors)
        let after = page.after.map { Int64($0) }
        if after == .some(nil) { errors["cursor"] = "is not a cursor this list returned" }
        var identity: (BlindIndexField, String)?
        for (name, value) in request.uri.queryParameters where !["limit", "cursor"].contains(String(name)) {
            guard let key = model.identity.first(where: { $0.name == String(name) }) else {
                errors[String(name)] = "is not a parameter or an identity key of \(model.name) (those are: \(model.identity.map(\.name).joined(separator: ", ")))"
                continue
            }
            if identity != nil { errors[String(name)] = "filter on one identity key at a time" } else { identity = (key, String(value)) }
        }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        let entities = try await EntityReader(client: client, keyring: keyring, logger: logger).entities(
            tenant: context.tenant, model: model.name, identity: identity, after: after ?? nil, limit: page.limit + 1, actor: actor(context)
        )
        let shown = Array(entities.prefix(page.limit))
        let next: JSONValue = entities.count > page.limit
            ? .string(ListCursor.encode(String(shown.last!.changeSequence), kind: "unified:\(model.name)")) : .null
        return try JSONResponse.make(.object(["data": .array(shown.map { Self.json($0, model: model) }), "next_cursor": next]))
    }

    func show(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead)
        let model = try await self.model(context)
        guard let raw = context.parameters.get("id"), let id = UUID(uuidString: raw) else {
            throw Problem.invalid(["id": "must be an entity id (a UUID)"])
        }
        var includeRaw = false
        for (name, value) in request.uri.queryParameters {
            switch (String(name), String(value)) {
            case ("include", "raw"): includeRaw = true
            case ("include", let other): throw Problem.invalid(["include": "\(other) is not something to include; the one choice is raw"])
            case (let other, _): throw Problem.invalid([other: "is not a parameter of this route (include=raw is)"])
            }
        }
        let entity = try await EntityReader(client: client, keyring: keyring, logger: logger)
            .entity(tenant: context.tenant, model: model.name, id: id, actor: actor(context))
        var json = Self.json(entity, model: model)
        if includeRaw, case .object(var object) = json, case .array(let sources)? = object["sources"] {
            // Each source's stored record, as `/v1/records` holds it: one read each, revealed
            // (and audited) for the keys that read sensitive fields.
            let records = RecordReader(client: client, keyring: keyring, logger: logger)
            // At most `maxRawSources` records, the most recently changed sources' (each is a
            // read); the others are listed without theirs, in their places (`field_sources`
            // indexes them).
            let raw = Set(entity.sources.indices.sorted { entity.sources[$0].changedAt > entity.sources[$1].changedAt }.prefix(Self.maxRawSources))
            var withRecords = sources
            for index in raw.sorted() {
                let source = entity.sources[index]
                let key = RecordKey(connection: source.connection, stream: source.stream, externalID: source.externalID)
                var record: JSONValue = .null
                do {
                    let stored = try await records.record(tenant: context.tenant, key: key, revealTo: actor(context))
                    record = .object(["data": .object(stored.data), "sensitive": stored.sensitive.map { .object($0.revealed) } ?? .null])
                } catch let error as HubError where error.code == .notFound {
                    // Linked by hand, or its record pruned since: the source stands without it.
                }
                guard case .object(var fields) = withRecords[index] else { continue }
                fields["record"] = record
                withRecords[index] = .object(fields)
            }
            object["sources"] = .array(withRecords)
            json = .object(object)
        }
        return try JSONResponse.make(json)
    }

    /// The change feed: every entity of the model changed after the cursor, in change order,
    /// merged and emptied ones included, so a client mirroring entities learns where an id went.
    /// `next_cursor` is always given: poll with it for later changes.
    func changes(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead)
        let model = try await self.model(context)
        var errors: [String: String] = [:]
        let kind = "unified-changes:\(model.name)"
        let page = PageRequest.parse(request, kind: kind, errors: &errors)
        let after = page.after.map { Int64($0) }
        if after == .some(nil) { errors["cursor"] = "is not a cursor this feed returned" }
        for (name, _) in request.uri.queryParameters where !["limit", "cursor"].contains(String(name)) {
            errors[String(name)] = "is not a parameter of the change feed (limit, cursor)"
        }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        let changes = try await EntityReader(client: client, keyring: keyring, logger: logger)
            .changes(tenant: context.tenant, model: model.name, after: after ?? nil, limit: page.limit + 1)
        let shown = changes.prefix(page.limit)
        let last = shown.last?.changeSequence ?? (after ?? nil) ?? 0
        return try JSONResponse.make(.object([
            "data": .array(shown.map { change in
                .object([
                    "id": .string(change.id.uuidString.lowercased()),
                    "change": .string(change.mergedInto != nil ? "merged" : change.hasSources ? "updated" : "deleted"),
                    "merged_into": change.mergedInto.map { .string($0.uuidString.lowercased()) } ?? .null,
                    "changed_at": .string(RFC3339.string(change.changedAt)),
                ])
            }),
            "next_cursor": .string(ListCursor.encode(String(last), kind: kind)),
            "has_more": .bool(changes.count > page.limit),
        ]))
    }

    /// The entity as the API shows it: merged fields (sensitive ones `***` unless revealed),
    /// which source each came from, and its sources.
    static func json(_ entity: EntityReader.Entity, model: UnifiedModel) -> JSONValue {
        let view = EntityView(entity, model: model)
        let origins = view.origins.mapValues { JSONValue.number(Double($0)) }
        let fields = view.fields
        return .object([
            "id": .string(entity.id.uuidString.lowercased()), "model": .string(entity.model),
            "updated_at": .string(RFC3339.string(entity.updatedAt)), "fields": .object(fields), "field_sources": .object(origins),
            "sources": .array(entity.sources.map { source in
                .object([
                    "connection_id": .string(source.connection.uuidString.lowercased()), "connector": .string(source.connector),
                    "stream": .string(source.stream), "external_id": .string(source.externalID),
                    "changed_at": .string(RFC3339.string(source.changedAt)),
                ])
            }),
        ])
    }
}
