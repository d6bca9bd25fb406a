import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// The `webhook.process` job: applies one inbox event to the store — upsert or delete of the
/// record it carries — and marks the event processed, in one fenced transaction. An event
/// older than the stored record (by the stream's cursor field) changes nothing.
struct WebhookProcessor: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let catalog: ConnectorCatalog
    let logger: Logger

    func run(_ context: JobContext) async throws -> JobOutcome {
        guard case .number(let number)? = context.job.args["event"] else {
            throw HubError(.invalidInput, "webhook.process job \(context.job.id) has no event id in its arguments")
        }
        let inbox = WebhookInbox(client: client, keyring: keyring, logger: context.logger)
        let event = try await inbox.event(Int64(number))
        guard event.status == .received else {
            try await context.withTransaction(completing: true) { _ in }
            return .completed
        }
        let info = try await ConnectionStore(client: client, logger: context.logger).connection(event.connection, tenant: event.tenant)
        let definition = try await catalog.definition(name: info.connector, version: info.connectorVersion)
        guard let policy = definition.sidecar.webhooks, let route = policy.events[event.eventType] else {
            // A type the connector doesn't map (a provider sends many): kept, marked, not retried.
            try await context.withTransaction(completing: true) { database in
                try await inbox.finish(event.id, status: .ignored, error: "no route for event type \(event.eventType)", on: database)
            }
            return .completed
        }
        let writer = RecordWriter(client: client, keyring: keyring, logger: context.logger)
        let identity = RecordIdentity(definition: definition, stream: route.stream)
        let input: RecordWriter.Input
        do {
            let payload = try JSONDecoder().decode(JSONValue.self, from: Data(event.payload.revealed))
            let record = try WebhookEvent(id: event.eventID, type: event.eventType, account: nil, payload: payload).record(route)
            let parsed = try identity.input(record, describing: "the record of webhook event \(event.eventID)")
            // Without a cursor field nothing in the record orders it: the time the hub received
            // the event does, so an older event processed late never overwrites a newer one.
            input = parsed.sourceUpdatedAt != nil ? parsed
                : RecordWriter.Input(externalID: parsed.externalID, fields: parsed.fields, sourceUpdatedAt: event.receivedAt)
        } catch {
            // A malformed event won't improve by retrying: it is marked failed, with why.
            let message = (error as? HubError)?.message ?? "the payload is not JSON"
            try await context.withTransaction(completing: true) { database in
                try await inbox.finish(event.id, status: .failed, error: message, on: database)
            }
            context.logger.warning("webhook event failed", metadata: ["hub.webhook.event": "\(event.id)", "hub.error": "\(message)"])
            return .completed
        }
        // A stream mapped into unified models links (or unlinks) the record as a sync would.
        let unified = try await UnifiedLinking.make(definition: definition, stream: route.stream, tenant: event.tenant,
                                                    connection: event.connection, config: PyValue(json: info.config), client: client,
                                                    keyring: keyring, logger: context.logger)
        if route.delete {
            try await context.withTransaction(completing: true) { database in
                let deleted = try await writer.delete(tenant: event.tenant, connection: event.connection, stream: route.stream,
                                                      externalID: input.externalID, sourceUpdatedAt: input.sourceUpdatedAt, on: database)
                if deleted, unified != nil {
                    try await EntityStore(logger: context.logger).unlink(on: database, tenant: event.tenant, connection: event.connection,
                                                                        stream: route.stream, externalIDs: [input.externalID])
                }
                try await inbox.finish(event.id, status: .processed, on: database)
            }
        } else {
            let prepared = try await writer.prepare(tenant: event.tenant, connection: event.connection, stream: route.stream,
                                                    records: [input], policy: definition.recordPolicy(route.stream))
            let sources = try await unified?.prepare(records: [input], raw: [PyValue(json: .object(input.fields))]) ?? []
            try await context.withTransaction(completing: true) { database in
                try await writer.run(prepared, on: database)
                try await unified?.link(sources, on: database)
                try await inbox.finish(event.id, status: .processed, on: database)
            }
        }
        return .completed
    }
}
