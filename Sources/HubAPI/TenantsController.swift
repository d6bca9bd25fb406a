import Foundation
import HubCore
import HubQueue
import HubStore
import HubSync
import Hummingbird
import Logging
import PostgresNIO

/// `/v1/tenants`: operator keys (`admin`) create and list tenants, and set each tenant's
/// share of the sync workers (`/v1/tenants/{id}/quota`).
struct TenantsController: Sendable {
    let client: PostgresClient
    let logger: Logger
    let body: RequestBody

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let group = routes.group(context: OperatorRequestContext.self)
        group.get("/tenants") { request, context in try await list(request, context) }
        group.post("/tenants") { request, context in try await create(request, context) }
        group.get("/tenants/:id/quota") { _, context in try await quota(context) }
        group.put("/tenants/:id/quota") { request, context in try await setQuota(request, context) }
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

    func tenantID(_ context: OperatorRequestContext) async throws -> TenantID {
        guard let raw = context.parameters.get("id"), let id = TenantID(raw) else { throw Problem.invalid(["id": "must be a tenant id (a UUID)"]) }
        // A quota for a tenant that does not exist would be a row nobody removes.
        _ = try await TenantStore(client: client, logger: logger).get(id)
        return id
    }

    func quota(_ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        return try JSONResponse.make(try await quotaJSON(try await tenantID(context)))
    }

    /// Replaces the tenant's quota: each field a number, or null (or absent) to inherit the
    /// default share.
    func setQuota(_ request: Request, _ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        let tenant = try await tenantID(context)
        let body = try await self.body.object(request, expected: #"must be a JSON object: {"weight": 2, "max_running": 4}"#) ?? [:]
        var errors: [String: String] = [:]
        func bounded(_ key: String, _ range: ClosedRange<Int>) -> Int? {
            switch body[key] {
            case nil, .null?: return nil
            case .number(let number)? where number.rounded() == number && number >= Double(range.lowerBound) && number <= Double(range.upperBound):
                return Int(number)
            default:
                errors[key] = "must be an integer from \(range.lowerBound) to \(range.upperBound), or null to inherit the default"
                return nil
            }
        }
        let share = QueueShare(weight: bounded("weight", QueueShare.weights), maxRunning: bounded("max_running", QueueShare.runningLimits))
        for key in body.keys where !["weight", "max_running"].contains(key) { errors[key] = "is not a field of this request" }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        try await JobQueue(client: client, logger: logger).setShare(share, queue: SyncJobs.queue, key: tenant.description)
        return try JSONResponse.make(try await quotaJSON(tenant))
    }

    /// The tenant's own quota and what applies once the default fills its gaps.
    func quotaJSON(_ tenant: TenantID) async throws -> JSONValue {
        let queue = JobQueue(client: client, logger: logger)
        let own = try await queue.share(queue: SyncJobs.queue, key: tenant.description)
        let fallback = try await queue.share(queue: SyncJobs.queue, key: QueueShare.defaultKey)
        func number(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
        return .object([
            "tenant_id": .string(tenant.description), "queue": .string(SyncJobs.queue),
            "weight": number(own.weight), "max_running": number(own.maxRunning),
            "effective": .object([
                "weight": .number(Double(own.weight ?? fallback.weight ?? 1)),
                "max_running": number(own.maxRunning ?? fallback.maxRunning),
            ]),
        ])
    }

    static func json(_ tenant: Tenant) -> JSONValue {
        .object([
            "id": .string(tenant.id.description), "name": .string(tenant.name), "created_at": .string(RFC3339.string(tenant.createdAt)),
            "shredded_at": tenant.shreddedAt.map { .string(RFC3339.string($0)) } ?? .null,
        ])
    }
}
