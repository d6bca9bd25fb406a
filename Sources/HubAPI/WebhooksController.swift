import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// `/v1/webhooks`: providers' events. No API key — the provider proves itself with the
/// signature its connector's `hub.yaml` declares. A verified event is stored and enqueued,
/// then acknowledged; processing happens in the queue.
struct WebhooksController: Sendable {
    let intake: WebhookIntake
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger
    /// Read before the connection is known, for the per-connector route (which routes by body).
    static let routingBodyLimit = 1 << 20

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("/webhooks/:connection_id") { request, context in try await receive(request, context) }
        group.post("/webhooks/tenants/:tenant_id/connectors/:name") { request, context in try await receiveForConnector(request, context) }
    }

    func addTenantRoutes(to routes: RouterGroup<APIRequestContext>) {
        let group = routes.group(context: TenantRequestContext.self)
        group.get("/connections/:id/webhook-events") { request, context in try await list(request, context) }
    }

    func receive(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let target = try await resolve(context) {
            guard let text = context.parameters.get("connection_id"), let id = UUID(uuidString: text) else {
                throw HubError(.notFound, "\(context.parameters.get("connection_id") ?? "") is not a connection id")
            }
            return try await intake.target(connection: id)
        }
        let body = try await collect(request, limit: target.policy.maxBodyBytes)
        return try await accept(target, body: body, request: request, context: context)
    }

    func receiveForConnector(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let body = try await collect(request, limit: Self.routingBodyLimit)
        let target = try await resolve(context) {
            guard let text = context.parameters.get("tenant_id"), let tenant = TenantID(text) else {
                throw HubError(.notFound, "\(context.parameters.get("tenant_id") ?? "") is not a tenant id")
            }
            return try await intake.target(tenant: tenant, connector: context.parameters.get("name") ?? "", body: body, header: Self.header(request))
        }
        guard body.count <= target.policy.maxBodyBytes else { throw Self.tooLarge(target.policy.maxBodyBytes) }
        return try await accept(target, body: body, request: request, context: context)
    }

    /// Every refusal before the signature is verified answers alike: the caller has proved
    /// nothing, so it must not learn which connections, tenants or accounts exist, or why its
    /// event was refused. The reason goes to the log for the operator.
    static let rejected = Problem(status: .unauthorized, code: .webhookRejected, title: "Webhook rejected",
                                  detail: "no connection takes this webhook, or its signature does not verify")

    private func resolve(_ context: APIRequestContext, _ find: () async throws -> WebhookIntake.Target) async throws -> WebhookIntake.Target {
        do {
            return try await find()
        } catch let error as HubError where [.notFound, .conflict, .invalidInput].contains(error.code) {
            context.logger.notice("webhook rejected before verification", metadata: ["hub.webhook.reason": "\(error.message)"])
            throw Self.rejected
        }
    }

    private func accept(_ target: WebhookIntake.Target, body: [UInt8], request: Request, context: APIRequestContext) async throws -> Response {
        let outcome: WebhookIntake.Outcome
        do {
            outcome = try await intake.receive(target, body: body, header: Self.header(request))
        } catch let rejection as WebhookRejection {
            context.logger.notice("webhook rejected", metadata: [
                "hub.connection": "\(target.connection.id)", "hub.webhook.reason": "\(rejection.reason)",
            ])
            throw Self.rejected
        }
        switch outcome {
        case .accepted(let eventID, _):
            return try JSONResponse.make(.object(["status": "accepted", "event_id": .string(eventID)]))
        case .duplicate(let eventID):
            return try JSONResponse.make(.object(["status": "duplicate", "event_id": .string(eventID)]))
        }
    }

    /// The body, within the connector's own limit (a webhook sender is no API client: its
    /// limit is the sidecar's, not the API's).
    private func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        do {
            return try await RequestBody(limit: limit).bytes(request)
        } catch let problem as Problem where problem.code == .payloadTooLarge {
            throw Self.tooLarge(limit)
        }
    }

    static func tooLarge(_ limit: Int) -> Problem {
        Problem(status: .contentTooLarge, code: .payloadTooLarge, title: "Payload too large",
                detail: "the webhook body exceeds this connector's limit of \(limit) bytes")
    }

    static func header(_ request: Request) -> @Sendable (String) -> String? {
        let headers = request.headers
        return { name in
            let wanted = name.lowercased()
            return headers.first { $0.name.canonicalName == wanted }?.value
        }
    }

    /// `GET /v1/connections/{id}/webhook-events`: what arrived and how it was processed (no payloads).
    func list(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead, .connectionsWrite)
        let tenant = context.tenant
        guard let text = context.parameters.get("id"), let connection = UUID(uuidString: text) else {
            throw Problem(HubError(.notFound, "connection \(context.parameters.get("id") ?? "") not found"))
        }
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: "webhook-events", errors: &errors)
        let before = page.after.map { Int64($0) }
        if before == .some(nil) { errors["cursor"] = "is not a cursor this list returned" }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        let limit = page.limit
        _ = try await ConnectionStore(client: client, logger: logger).connection(connection, tenant: tenant)
        let events = try await WebhookInbox(client: client, keyring: keyring, logger: logger)
            .list(connection: connection, tenant: tenant, limit: limit + 1, before: before ?? nil)
        let shown = Array(events.prefix(limit))
        return try JSONResponse.make(.object([
            "data": .array(shown.map { event in
                .object([
                    "id": .number(Double(event.id)), "event_id": .string(event.eventID), "event_type": .string(event.eventType),
                    "status": .string(event.status.rawValue), "error": event.error.map(JSONValue.string) ?? .null,
                    "received_at": .string(RFC3339.string(event.receivedAt)),
                    "processed_at": event.processedAt.map { .string(RFC3339.string($0)) } ?? .null,
                ])
            }),
            "next_cursor": events.count > limit ? .string(ListCursor.encode(String(shown.last!.id), kind: "webhook-events")) : .null,
        ]))
    }
}
