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

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let group = routes.group(context: TenantRequestContext.self)
        group.get("/unified/:model") { request, context in try await list(request, context) }
        group.get("/unified/:model/:id") { _, context in try await show(context) }
    }

    func model(_ context: TenantRequestContext) async throws -> UnifiedModel {
        guard let name = context.parameters.get("model"), UnifiedModel.isValidName(name) else {
            throw Problem.invalid(["model": "must be a model name: lower-case letters, digits, _ and -"])
        }
        guard let model = try await ModelCatalog(client: client, logger: logger).latest([name])[name] else {
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

    func show(_ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead)
        let model = try await self.model(context)
        guard let raw = context.parameters.get("id"), let id = UUID(uuidString: raw) else {
            throw Problem.invalid(["id": "must be an entity id (a UUID)"])
        }
        let entity = try await EntityReader(client: client, keyring: keyring, logger: logger)
            .entity(tenant: context.tenant, model: model.name, id: id, actor: actor(context))
        return try JSONResponse.make(Self.json(entity, model: model))
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
