import HubCore
import HubStore

/// The OpenAPI 3.1 description of the routes this module serves, built in code next to them
/// so that a route and its description change together (a test checks they agree).
enum OpenAPIDocument {
    static func ref(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(name)")]) }
    static func string(_ description: String, format: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["type": .string("string"), "description": .string(description)]
        if let format { object["format"] = .string(format) }
        return .object(object)
    }
    static let integer: JSONValue = .object(["type": .string("integer")])
    static let boolean: JSONValue = .object(["type": .string("boolean")])
    static let anyObject: JSONValue = .object(["type": .string("object")])
    static let nullableString: JSONValue = .object(["type": .array([.string("string"), .string("null")])])

    static func parameter(_ name: String, in location: String = "query", required: Bool = false, schema: JSONValue,
                          description: String) -> JSONValue {
        .object(["name": .string(name), "in": .string(location), "required": .bool(required || location == "path"),
                 "schema": schema, "description": .string(description)])
    }

    static func json(_ schema: JSONValue, _ description: String) -> JSONValue {
        .object(["description": .string(description), "content": .object(["application/json": .object(["schema": schema])])])
    }

    static func problem(_ description: String) -> JSONValue {
        .object(["description": .string(description),
                 "content": .object(["application/problem+json": .object(["schema": ref("Problem")])])])
    }

    static func list(of item: String) -> JSONValue {
        .object(["type": .string("object"), "required": .array([.string("data"), .string("next_cursor")]),
                 "properties": .object(["data": .object(["type": .string("array"), "items": ref(item)]),
                                        "next_cursor": nullableString])])
    }

    static func operation(_ summary: String, tag: String, parameters: [JSONValue] = [], body: JSONValue? = nil,
                          bodyRequired: Bool = true, responses: [String: JSONValue], secured: Bool = true) -> JSONValue {
        var object: [String: JSONValue] = ["summary": .string(summary), "tags": .array([.string(tag)])]
        if !parameters.isEmpty { object["parameters"] = .array(parameters) }
        if let body {
            object["requestBody"] = .object(["required": .bool(bodyRequired), "content": .object(["application/json": .object(["schema": body])])])
        }
        var all = responses
        if secured {
            all["401"] = problem("Missing, unknown, revoked or expired API key")
            all["429"] = problem("Over the key's rate limit; see Retry-After")
        }
        object["responses"] = .object(all)
        if !secured { object["security"] = .array([]) }
        return .object(object)
    }

    static let connectionID = parameter("id", in: "path", schema: string("A connection id", format: "uuid"), description: "The connection")

    /// The whole document.
    static let document: JSONValue = {
        let errorsBadRequest = problem("Invalid parameters; `errors` lists each")
        let forbidden = problem("The key lacks the scope this needs")
        let notFound = problem("Not found (or not the key's tenant's)")
        let paths: [String: JSONValue] = [
            "/healthz": .object(["get": operation("The process is alive", tag: "health",
                                                  responses: ["200": json(anyObject, "Alive")], secured: false)]),
            "/readyz": .object(["get": operation("Database reachable and schema current", tag: "health",
                                                 responses: ["200": json(anyObject, "Ready"), "503": json(anyObject, "Not ready")],
                                                 secured: false)]),
            "/metrics": .object(["get": operation(
                "Prometheus metrics: requests by route and status, latency, queue depth, sync runs and webhook events by connector",
                tag: "health",
                responses: ["200": .object(["description": .string("Prometheus text format 0.0.4"),
                                            "content": .object(["text/plain": .object(["schema": .object(["type": .string("string")])])])]),
                            "401": problem("TRIBUTARY_METRICS_TOKEN is set and the request does not bear it")],
                secured: false)]),
            "/v1/records": .object(["get": operation(
                "A stream's records in change order", tag: "records",
                parameters: [
                    parameter("connection_id", required: true, schema: string("Connection id", format: "uuid"), description: "The connection"),
                    parameter("stream", required: true, schema: string("Stream name"), description: "The stream"),
                    parameter("limit", schema: .object(["type": .string("integer"), "minimum": .number(1), "maximum": .number(1000)]),
                              description: "Page size (default 100)"),
                    parameter("cursor", schema: string("Opaque cursor"), description: "next_cursor of the previous page"),
                    parameter("updated_after", schema: string("RFC 3339 time", format: "date-time"), description: "Only records synced after"),
                    parameter("include_deleted", schema: boolean, description: "Include records the source deleted"),
                ],
                responses: ["200": json(list(of: "Record"), "A page of records (sensitive fields masked as *** without records:read-sensitive)"),
                            "400": errorsBadRequest, "403": forbidden, "404": notFound]
            )]),
            "/v1/connections": .object([
                "get": operation("The tenant's connections, newest first", tag: "connections",
                                 parameters: pageParameters,
                                 responses: ["200": json(list(of: "Connection"), "Connections"), "400": errorsBadRequest, "403": forbidden]),
                "post": operation(
                    "Create a connection (connections:write); credentials in `config` are sealed and never returned", tag: "connections",
                    body: .object(["type": .string("object"), "required": .array([.string("connector"), .string("config")]),
                                   "additionalProperties": .bool(false), "properties": .object([
                                       "connector": .object(["type": .string("string")]),
                                       "version": .object(["type": .string("integer"), "minimum": .number(1)]),
                                       "account": .object(["type": .string("string"), "maxLength": .number(200)]),
                                       "config": anyObject,
                                       "schedule_seconds": .object(["type": .string("integer"), "minimum": .number(60), "maximum": .number(31_536_000)]),
                                   ])]),
                    responses: ["201": json(ref("Connection"), "Created"), "400": errorsBadRequest, "403": forbidden,
                                "404": problem("No such connector or version"), "422": problem("The configuration does not satisfy the connector's spec")]
                ),
            ]),
            "/v1/connections/{id}": .object([
                "get": operation(
                    "A connection with the latest run of each stream (never its credentials)", tag: "connections", parameters: [connectionID],
                    responses: ["200": json(ref("ConnectionDetail"), "The connection"), "400": errorsBadRequest, "403": forbidden, "404": notFound]
                ),
                "patch": operation(
                    "Update config (credentials left out keep their values, unless a field the connector's URLs read changes), pause or resume, set the schedule, or upgrade to another "
                        + "published connector version, checked against its spec (connections:write)",
                    tag: "connections", parameters: [connectionID],
                    body: .object(["type": .string("object"), "additionalProperties": .bool(false), "properties": .object([
                        "config": anyObject,
                        "status": .object(["type": .string("string"), "enum": .array(ConnectionStatus.settable.map { .string($0.rawValue) })]),
                        "schedule_seconds": .object(["type": .array([.string("integer"), .string("null")]), "minimum": .number(60),
                                                     "maximum": .number(31_536_000)]),
                        "connector_version": .object(["type": .string("integer"), "minimum": .number(1), "maximum": .number(999_999_999)]),
                    ])]),
                    responses: ["200": json(ref("Connection"), "Updated"), "400": errorsBadRequest, "403": forbidden, "404": notFound,
                                "422": problem("The configuration does not satisfy the connector's spec, or moves requests to another host "
                                                      + "without the credentials sent again")]
                ),
                "delete": operation(
                    "Delete a connection with its records, state and runs (connections:write)", tag: "connections", parameters: [connectionID],
                    responses: ["204": .object(["description": .string("Deleted")]), "400": errorsBadRequest, "403": forbidden, "404": notFound]
                ),
            ]),
            "/v1/connections/{id}/webhook-events": .object(["get": operation(
                "The connection's webhook events, newest first (without payloads)", tag: "webhooks",
                parameters: [connectionID,
                             parameter("limit", schema: .object(["type": .string("integer"), "minimum": .number(1), "maximum": .number(500)]),
                                       description: "Page size (default 50)"),
                             parameter("cursor", schema: string("Opaque cursor"), description: "next_cursor of the previous page")],
                responses: ["200": json(list(of: "WebhookEvent"), "Events"), "400": errorsBadRequest, "403": forbidden, "404": notFound]
            )]),
            "/v1/webhooks/{connection_id}": .object(["post": operation(
                "A provider's event for one connection, verified by the signature its connector's hub.yaml declares (no API key)",
                tag: "webhooks",
                parameters: [parameter("connection_id", in: "path", schema: string("A connection id"), description: "The connection")],
                body: anyObject,
                responses: webhookResponses, secured: false
            )]),
            "/v1/webhooks/tenants/{tenant_id}/connectors/{name}": .object(["post": operation(
                "A provider's event on its one per-app URL, routed to the tenant's connection whose account matches the event's",
                tag: "webhooks",
                parameters: [parameter("tenant_id", in: "path", schema: string("A tenant id"), description: "The tenant"),
                             parameter("name", in: "path", schema: string("A connector name"), description: "The connector")],
                body: anyObject,
                responses: webhookResponses, secured: false
            )]),
            "/v1/connections/{id}/syncs": .object([
                "post": operation(
                    "Start a sync: one job per stream (connections:write); without a body, every stream", tag: "connections",
                    parameters: [connectionID],
                    body: .object(["type": .string("object"), "additionalProperties": .bool(false), "properties": .object([
                        "stream": .object(["type": .string("string")]), "full_refresh": boolean,
                    ])]),
                    bodyRequired: false,
                    responses: ["202": json(.object(["type": .string("object"), "properties": .object([
                        "data": .object(["type": .string("array"), "items": ref("SyncStarted")]),
                    ])]), "Queued"), "400": errorsBadRequest, "403": forbidden, "404": notFound]
                ),
                "get": operation(
                    "The connection's sync runs, newest first", tag: "connections",
                    parameters: [connectionID,
                                 parameter("limit", schema: .object(["type": .string("integer"), "minimum": .number(1), "maximum": .number(500)]),
                                           description: "Page size (default 50)"),
                                 parameter("cursor", schema: string("Opaque cursor"), description: "next_cursor of the previous page")],
                    responses: ["200": json(list(of: "SyncRun"), "Runs"), "400": errorsBadRequest, "403": forbidden, "404": notFound]
                ),
            ]),
            "/v1/connectors": .object([
                "get": operation("Registered connectors, by name", tag: "connectors", parameters: pageParameters,
                                 responses: ["200": json(list(of: "ConnectorSummary"), "Connectors"), "400": errorsBadRequest]),
                "post": operation(
                    "Register a connector version (an operator key with connectors:write: definitions are shared by every tenant)", tag: "connectors",
                    body: .object(["type": .string("object"), "required": .array([.string("name"), .string("manifest")]),
                                   "additionalProperties": .bool(false), "properties": .object([
                                       "name": .object(["type": .string("string"), "pattern": .string("^[a-z0-9][a-z0-9_-]{0,99}$")]),
                                       "manifest": string("The Airbyte declarative manifest, as YAML text"),
                                       "sidecar": string("hub.yaml, as YAML text"),
                                   ])]),
                    responses: ["200": json(ref("ConnectorRegistered"), "Identical content: the existing version"),
                                "201": json(ref("ConnectorRegistered"), "A new version"),
                                "400": errorsBadRequest, "403": forbidden, "422": problem("The engine refused the connector")]
                ),
            ]),
            "/v1/connectors/{name}": .object(["get": operation(
                "A connector's latest version, its streams and data policy", tag: "connectors",
                parameters: [parameter("name", in: "path", schema: string("Connector name"), description: "The connector")],
                responses: ["200": json(ref("Connector"), "The connector"), "404": notFound]
            )]),
            "/v1/models": .object([
                "get": operation("Unified models, by name", tag: "models", parameters: pageParameters,
                                 responses: ["200": json(list(of: "ModelSummary"), "Models"), "400": errorsBadRequest]),
                "post": operation(
                    "Register a unified model version (an operator key with connectors:write: models are shared by every tenant)", tag: "models",
                    body: .object(["type": .string("object"), "required": .array([.string("definition")]), "additionalProperties": .bool(false),
                                   "properties": .object(["definition": string("The model's YAML (models/NAME.yaml), as text")])]),
                    responses: ["200": json(ref("ModelRegistered"), "Identical content: the existing version"),
                                "201": json(ref("ModelRegistered"), "A new version"),
                                "400": errorsBadRequest, "403": forbidden, "422": problem("The model is not valid; the detail lists each problem")]
                ),
            ]),
            "/v1/models/{name}": .object(["get": operation(
                "A unified model's latest version: its fields, which are sensitive, its identity keys and survivorship rules", tag: "models",
                parameters: [parameter("name", in: "path", schema: string("Model name"), description: "The model")],
                responses: ["200": json(ref("Model"), "The model"), "400": errorsBadRequest, "404": notFound]
            )]),
            "/graphql": graphQLPath,
            "/v1/unified/{model}/changes": unifiedChangesPath(badRequest: errorsBadRequest, forbidden: forbidden, notFound: notFound),
            "/v1/unified/{model}": .object(["get": operation(
                "The tenant's unified entities of a model, in change order (records:read); filter by one identity key (`?email=…`) "
                    + "without decrypting anything", tag: "unified",
                parameters: [parameter("model", in: "path", required: true, schema: string("Model name"), description: "The model")] + pageParameters,
                responses: ["200": json(list(of: "UnifiedEntity"), "Entities"), "400": errorsBadRequest, "403": forbidden, "404": notFound]
            )]),
            "/v1/unified/{model}/{id}": .object(["get": operation(
                "A unified entity with its merged fields and its sources (records:read); an id merged into another answers with that one",
                tag: "unified",
                parameters: [parameter("model", in: "path", required: true, schema: string("Model name"), description: "The model"),
                             parameter("id", in: "path", required: true, schema: .object(["type": .string("string"), "format": .string("uuid")]),
                                       description: "The entity"),
                             parameter("include", schema: .object(["type": .string("string"), "enum": .array([.string("raw")])]),
                                       description: "raw: each source with its stored record (`record`: data, and sensitive fields for sensitive keys)")],
                responses: ["200": json(ref("UnifiedEntity"), "The entity"), "400": errorsBadRequest, "403": forbidden, "404": notFound]
            )]),
            "/v1/tenants": .object([
                "get": operation("Tenants, oldest first (admin)", tag: "tenants", parameters: pageParameters,
                                 responses: ["200": json(list(of: "Tenant"), "Tenants"), "400": errorsBadRequest, "403": forbidden]),
                "post": operation("Create a tenant (admin)", tag: "tenants",
                                  body: .object(["type": .string("object"), "required": .array([.string("name")]),
                                                 "properties": .object(["name": .object(["type": .string("string"), "minLength": .number(1), "maxLength": .number(200)])])]),
                                  responses: ["201": json(ref("Tenant"), "Created"), "400": errorsBadRequest, "403": forbidden]),
            ]),
            "/v1/tenants/{id}/quota": .object([
                "get": operation("The tenant's share of the sync workers (admin)", tag: "tenants", parameters: [tenantID],
                                 responses: ["200": json(ref("TenantQuota"), "The quota"), "400": errorsBadRequest, "403": forbidden, "404": notFound]),
                "put": operation(
                    "Replace the tenant's share of the sync workers (admin); null or absent inherits the default", tag: "tenants",
                    parameters: [tenantID],
                    body: .object(["type": .string("object"), "additionalProperties": .bool(false), "properties": .object([
                        "weight": .object(["type": .array([.string("integer"), .string("null")]), "minimum": .number(1), "maximum": .number(100)]),
                        "max_running": .object(["type": .array([.string("integer"), .string("null")]), "minimum": .number(1), "maximum": .number(10_000)]),
                    ])]),
                    responses: ["200": json(ref("TenantQuota"), "The quota now"), "400": errorsBadRequest, "403": forbidden, "404": notFound]
                ),
            ]),
            "/v1/jobs": .object(["get": operation(
                "Jobs of the queue (admin)", tag: "jobs",
                parameters: [parameter("state", schema: .object(["type": .string("string"), "enum": .array(
                                 ["available", "scheduled", "running", "retryable", "completed", "discarded", "cancelled"].map(JSONValue.string))]),
                                       description: "Only jobs in this state"),
                             parameter("queue", schema: string("Queue name"), description: "Only this queue"),
                             parameter("limit", schema: .object(["type": .string("integer"), "minimum": .number(1), "maximum": .number(500)]),
                                       description: "At most this many (default 50)"),
                             parameter("cursor", schema: string("Opaque cursor"), description: "next_cursor of the previous page")],
                responses: ["200": json(list(of: "Job"), "Jobs"), "400": errorsBadRequest, "403": forbidden]
            )]),
            "/v1/jobs/{id}": .object(["get": operation("A job (admin)", tag: "jobs", parameters: [jobID],
                                                       responses: ["200": json(ref("Job"), "The job"), "400": errorsBadRequest, "403": forbidden, "404": notFound])]),
            "/v1/jobs/{id}/cancel": .object(["post": operation("Cancel a waiting or running job (admin)", tag: "jobs", parameters: [jobID],
                                                               responses: ["200": json(ref("Job"), "The job"), "400": errorsBadRequest, "403": forbidden,
                                                                           "404": notFound, "409": problem("The job already finished")])]),
            "/v1/jobs/{id}/retry": .object(["post": operation("Retry a discarded or cancelled job (admin)", tag: "jobs", parameters: [jobID],
                                                              responses: ["200": json(ref("Job"), "The job"), "400": errorsBadRequest, "403": forbidden, "404": notFound, "409": problem("The job is not finished")])]),
        ]
        return .object([
            "openapi": .string("3.1.0"),
            "info": .object(["title": .string("Tributary"), "version": .string("1"),
                             "description": .string("Your users' data from third-party APIs, encrypted, in one place.")]),
            "security": .array([.object(["apiKey": .array([])])]),
            "paths": .object(paths),
            "components": .object([
                "securitySchemes": .object(["apiKey": .object(["type": .string("http"), "scheme": .string("bearer"),
                                                               "description": .string("trb_<prefix>_<secret> from `tributary api-keys create`")])]),
                "schemas": .object(schemas),
            ]),
        ])
    }()

    static let webhookResponses: [String: JSONValue] = [
        "200": json(object(["status": .object(["type": .string("string"), "enum": .array([.string("accepted"), .string("duplicate")])]),
                            "event_id": .object(["type": .string("string")])]),
                    "Stored and queued, or a replay of an event already received"),
        "400": problem("The body is not a JSON object, or lacks the event id or type"),
        "401": problem("Not accepted, nothing stored: no such connection, tenant or account, no webhooks for the connector, or a "
                       + "signature missing, wrong or outside its tolerance (one answer for all, so callers learn nothing)"),
        "413": problem("The body exceeds the connector's limit"),
    ]

    static let pageParameters = [
        parameter("limit", schema: .object(["type": .string("integer"), "minimum": .number(1), "maximum": .number(500)]),
                  description: "Page size (default 50)"),
        parameter("cursor", schema: string("Opaque cursor"), description: "next_cursor of the previous page"),
    ]

    static let tenantID = parameter("id", in: "path", schema: .object(["type": .string("string"), "format": .string("uuid")]), description: "The tenant")

    static let jobID = parameter("id", in: "path", schema: .object(["type": .string("integer"), "minimum": .number(1)]), description: "The job")

    static func object(_ properties: [String: JSONValue], required: [String]? = nil) -> JSONValue {
        .object(["type": .string("object"), "required": .array((required ?? properties.keys.sorted()).map(JSONValue.string)),
                 "properties": .object(properties)])
    }

    static let timestamp: JSONValue = .object(["type": .string("string"), "format": .string("date-time")])
    static let nullableTimestamp: JSONValue = .object(["type": .array([.string("string"), .string("null")]), "format": .string("date-time")])
}
