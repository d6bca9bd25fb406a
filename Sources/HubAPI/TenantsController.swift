import Foundation
import HubCore
import HubStore
import Hummingbird
import Logging
import PostgresNIO

/// `/v1/tenants`: operator keys (`admin`) create and list tenants.
struct TenantsController: Sendable {
    let client: PostgresClient
    let logger: Logger
    let body: RequestBody

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let group = routes.group(context: OperatorRequestContext.self)
        group.get("/tenants") { request, context in try await list(request, context) }
        group.post("/tenants") { request, context in try await create(request, context) }
    }

    func list(_ request: Request, _ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: "tenants", errors: &errors)
        guard errors.isEmpty, let after = ListCursor.timeKey(page.after) else {
            throw Problem.invalid(errors.isEmpty ? ["cursor": "is not a cursor this list returned"] : errors)
        }
        let tenants = try await TenantStore(client: client, logger: logger).list(limit: page.limit + 1, after: after)
        let shown = Array(tenants.prefix(page.limit))
        let next: JSONValue = tenants.count > page.limit
            ? .string(ListCursor.encode("\(shown.last!.micros),\(shown.last!.tenant.id.rawValue)", kind: "tenants")) : .null
        return try JSONResponse.make(.object(["data": .array(shown.map { Self.json($0.tenant) }), "next_cursor": next]))
    }

    func create(_ request: Request, _ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        let body = try await self.body.object(request, expected: #"must be a JSON object: {"name": "Acme"}"#) ?? [:]
        guard case .string(let name)? = body["name"] else {
            throw Problem.invalid(["name": "is required: {\"name\": \"Acme\"}"])
        }
        let tenant = try await TenantStore(client: client, logger: logger).create(name: name)
        return try JSONResponse.make(Self.json(tenant), status: .created)
    }

    static func json(_ tenant: Tenant) -> JSONValue {
        .object([
            "id": .string(tenant.id.description), "name": .string(tenant.name), "created_at": .string(RFC3339.string(tenant.createdAt)),
            "shredded_at": tenant.shreddedAt.map { .string(RFC3339.string($0)) } ?? .null,
        ])
    }
}
