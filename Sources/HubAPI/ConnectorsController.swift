import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import Hummingbird
import Logging
import PostgresNIO

/// `/v1/connectors`: the registered connector definitions (shared by every tenant), and
/// registering a new version (an operator's `connectors:write`), checked by the engine before it is stored.
struct ConnectorsController: Sendable {
    let client: PostgresClient
    let logger: Logger
    let body: RequestBody

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let anyKey = routes.group(context: KeyRequestContext.self)
        anyKey.get("/connectors") { request, context in try await list(request, context) }
        anyKey.get("/connectors/:name") { _, context in try await show(context) }
        routes.group(context: OperatorRequestContext.self).post("/connectors") { request, context in try await register(request, context) }
    }

    func list(_ request: Request, _ context: KeyRequestContext) async throws -> Response {
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: "connectors", errors: &errors)
        if !errors.isEmpty { throw Problem.invalid(errors) }
        let found = try await ConnectorStore(client: client, logger: logger).list(limit: page.limit + 1, after: page.after)
        let connectors = Array(found.prefix(page.limit))
        let next: JSONValue = found.count > page.limit ? .string(ListCursor.encode(connectors.last!.name, kind: "connectors")) : .null
        return try JSONResponse.make(.object(["data": .array(connectors.map { connector in
            .object(["name": .string(connector.name), "latest_version": .number(Double(connector.latestVersion)),
                     "versions": .number(Double(connector.versions)), "updated_at": .string(RFC3339.string(connector.updatedAt))])
        }), "next_cursor": next]))
    }

    func show(_ context: KeyRequestContext) async throws -> Response {
        guard let name = context.parameters.get("name") else { throw Problem.invalid(["name": "is required"]) }
        let stored = try await ConnectorStore(client: client, logger: logger).definition(name: name)
        let definition = try ConnectorDefinition(name: stored.name, manifest: stored.manifest, sidecar: stored.sidecar)
        return try JSONResponse.make(.object([
            "name": .string(stored.name), "version": .number(Double(stored.version)), "checksum": .string(stored.checksum),
            "runtime": .string(definition.runtime?.requirement ?? "engine"),
            "streams": .array(definition.streamNames.map { stream in
                let policy = definition.sidecar.streams[stream]
                return .object([
                    "name": .string(stream), "incremental": .bool(definition.isIncremental(stream)),
                    "primary_key": .array(definition.primaryKey(stream).map { .string($0.joined(separator: ".")) }),
                    "sensitive": .array((policy?.sensitive ?? []).map(JSONValue.string)),
                    "blind_indexed": .array((policy?.blindIndexes ?? []).map { .string($0.name) }),
                    "unified": .object((policy?.unified ?? [:]).mapValues { .array($0.fieldNames.map(JSONValue.string)) }),
                ])
            }),
        ]))
    }

    func register(_ request: Request, _ context: OperatorRequestContext) async throws -> Response {
        // Every tenant's connections can run a published version: a tenant must never be able
        // to change what another tenant's credentials are sent to, or drop `sensitive:`.
        try context.require(.connectorsWrite)
        let body = try await self.body.object(request, expected: "must be a JSON object with name, manifest (YAML text) and sidecar (YAML text)") ?? [:]
        var errors: [String: String] = [:]
        let name = body["name"]?.stringValue
        let manifest = body["manifest"]?.stringValue
        let sidecar = body["sidecar"]?.stringValue ?? ""
        if name == nil { errors["name"] = "is required" }
        if manifest == nil { errors["manifest"] = "is required: the manifest's YAML as a string" }
        if body["sidecar"] != nil, body["sidecar"]?.stringValue == nil { errors["sidecar"] = "must be the hub.yaml text as a string" }
        for key in body.keys where !["name", "manifest", "sidecar"].contains(key) { errors[key] = "is not a field of this request" }
        guard errors.isEmpty, let name, let manifest else { throw Problem.invalid(errors) }
        let definition: ConnectorDefinition
        do {
            definition = try ConnectorDefinition(name: name, manifest: manifest, sidecar: sidecar)
            // A process connector's spec says which fields are secrets: without it, only the
            // sidecar's list would be sealed. Its manifest is the spec the source printed.
            if definition.runtime != nil, definition.connectionSpecification == nil {
                throw HubError(.invalidInput, "a process connector (hub.yaml runtime) is registered with its source's spec as its manifest "
                               + "(the JSON `spec` prints under connectionSpecification); `tributary connectors add` asks the source for it")
            }
            try await ModelCatalog(client: client, logger: logger).check(definition)
        } catch let error as HubError where error.code == .invalidInput {
            throw Problem(status: .unprocessableContent, code: .invalidConnector, title: "Invalid connector", detail: error.message)
        }
        let (version, created) = try await ConnectorStore(client: client, logger: logger).register(name: name, manifest: manifest, sidecar: sidecar)
        return try JSONResponse.make(.object([
            "name": .string(name), "version": .number(Double(version)), "created": .bool(created),
            "streams": .array(definition.streamNames.map(JSONValue.string)),
        ]), status: created ? .created : .ok)
    }
}
