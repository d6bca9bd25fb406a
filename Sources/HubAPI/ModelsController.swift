import Foundation
import HubConnectors
import HubCore
import HubStore
import HubSync
import Hummingbird
import Logging
import PostgresNIO

/// `/v1/models`: the unified model definitions (shared by every tenant; any key reads them),
/// and registering a new version (an operator's `connectors:write`, the right to publish
/// definitions), checked before it is stored.
struct ModelsController: Sendable {
    let client: PostgresClient
    let logger: Logger
    let body: RequestBody
    let catalog: ConnectorCatalog

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let anyKey = routes.group(context: KeyRequestContext.self)
        anyKey.get("/models") { request, context in try await list(request, context) }
        anyKey.get("/models/:name") { _, context in try await show(context) }
        routes.group(context: OperatorRequestContext.self).post("/models") { request, context in try await register(request, context) }
    }

    var store: ModelStore { ModelStore(client: client, logger: logger) }

    func list(_ request: Request, _ context: KeyRequestContext) async throws -> Response {
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: "models", errors: &errors)
        if !errors.isEmpty { throw Problem.invalid(errors) }
        let found = try await store.list(limit: page.limit + 1, after: page.after)
        let models = Array(found.prefix(page.limit))
        let next: JSONValue = found.count > page.limit ? .string(ListCursor.encode(models.last!.name, kind: "models")) : .null
        return try JSONResponse.make(.object(["data": .array(models.map { model in
            .object(["name": .string(model.name), "latest_version": .number(Double(model.latestVersion)),
                     "versions": .number(Double(model.versions)), "updated_at": .string(RFC3339.string(model.updatedAt))])
        }), "next_cursor": next]))
    }

    func show(_ context: KeyRequestContext) async throws -> Response {
        guard let name = context.parameters.get("name"), UnifiedModel.isValidName(name) else {
            throw Problem.invalid(["name": "must be a model name: lower-case letters, digits, _ and -"])
        }
        let stored = try await store.definition(name: name)
        return try JSONResponse.make(Self.json(try UnifiedModel(yaml: stored.definition, source: "model \(name)"), version: stored.version,
                                               checksum: stored.checksum))
    }

    func register(_ request: Request, _ context: OperatorRequestContext) async throws -> Response {
        // A model decides which fields every tenant's unified data seals: a tenant must never
        // be able to drop `sensitive:` from it.
        try context.require(.connectorsWrite)
        let body = try await self.body.object(request, expected: "must be a JSON object with definition (the model's YAML text)") ?? [:]
        var errors: [String: String] = [:]
        let text = body["definition"]?.stringValue
        if text == nil { errors["definition"] = "is required: the model's YAML as a string" }
        for key in body.keys where key != "definition" { errors[key] = "is not a field of this request" }
        guard errors.isEmpty, let text else { throw Problem.invalid(errors) }
        let model: UnifiedModel
        do {
            model = try UnifiedModel(yaml: text, source: "definition")
        } catch let error as ManifestError {
            throw Problem(status: .unprocessableContent, code: .invalidModel, title: "Invalid model", detail: error.description)
        } catch let error as ManifestProblems {
            throw Problem(status: .unprocessableContent, code: .invalidModel, title: "Invalid model", detail: error.description)
        }
        let (version, created) = try await store.register(name: model.name, definition: text)
        // Every connection mapping into it derives its unified data again, from what is stored.
        let rederiving = created ? try await RederivationService(client: client, catalog: catalog, logger: logger).modelChanged(model.name) : 0
        return try JSONResponse.make(.object([
            "name": .string(model.name), "version": .number(Double(version)), "created": .bool(created),
            "rederiving_connections": .number(Double(rederiving)),
        ]), status: created ? .created : .ok)
    }

    static func json(_ model: UnifiedModel, version: Int, checksum: String) -> JSONValue {
        .object([
            "name": .string(model.name), "version": .number(Double(version)), "checksum": .string(checksum),
            "description": model.description.map(JSONValue.string) ?? .null,
            "fields": .array(model.fields.map { field in
                var rule: JSONValue = .string("most_recent")
                if case .priority(let names) = model.survivorship(of: field) { rule = .object(["priority": .array(names.map(JSONValue.string))]) }
                return .object([
                    "name": .string(field), "sensitive": .bool(model.sensitive.contains(field)),
                    "identity": model.identityNormalization(of: field).map(JSONValue.string) ?? .null,
                    "survivorship": rule,
                ])
            }),
        ])
    }
}
