import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// Receives a provider's webhook for a connection: verifies its signature with the
/// connection's secret, stores the event in the inbox and enqueues its processing in one
/// transaction, then acknowledges. A replayed event id is acknowledged and not processed again.
public struct WebhookIntake: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let catalog: ConnectorCatalog
    let logger: Logger

    public static let processKind = "webhook.process"

    public init(client: PostgresClient, keyring: Keyring, catalog: ConnectorCatalog, logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.catalog = catalog
        self.logger = logger
    }

    public enum Outcome: Sendable, Equatable {
        case accepted(eventID: String, inboxID: Int64)
        case duplicate(eventID: String)
    }

    /// Where a webhook goes: the connection and its connector's webhook policy.
    public struct Target: Sendable {
        public let connection: ConnectionStore.ConnectionInfo
        public let policy: WebhookPolicy
    }

    /// The target of `POST /v1/webhooks/{connection}`; not found unless the connection exists
    /// and its connector takes webhooks (the same answer either way, so ids can't be probed).
    public func target(connection id: UUID) async throws -> Target {
        let info: ConnectionStore.ConnectionInfo
        do {
            info = try await ConnectionStore(client: client, logger: logger).connection(id)
        } catch let error as HubError where error.code == .notFound {
            throw HubError(.notFound, "no connection \(id) takes webhooks")
        }
        let definition = try await catalog.definition(name: info.connector, version: info.connectorVersion)
        guard let policy = definition.sidecar.webhooks else { throw HubError(.notFound, "no connection \(id) takes webhooks") }
        return Target(connection: info, policy: policy)
    }

    /// The target of `POST /v1/webhooks/tenants/{tenant_id}/connectors/{name}`, for providers
    /// with one URL per app: the tenant's connection whose external account matches the event's
    /// account field. Accounts are chosen by tenants, so routing never looks past the tenant:
    /// another tenant claiming the same account can neither receive nor block these events.
    public func target(tenant: TenantID, connector: String, body: [UInt8], header: (String) -> String?) async throws -> Target {
        let definition = try await catalog.latest(name: connector)
        guard let policy = definition.sidecar.webhooks, policy.accountPath != nil else {
            throw HubError(.notFound, "connector \(connector) takes no per-connector webhooks")
        }
        let event = try WebhookEvent(body: body, header: header, policy: policy)
        guard let account = event.account, !account.isEmpty else {
            throw HubError(.invalidInput, "the webhook has no account at \(policy.accountPath!.joined(separator: "."))")
        }
        let rows = try await ConnectionStore(client: client, keyring: keyring, logger: logger)
            .ids(tenant: tenant, connector: connector, account: account)
        guard let id = rows.first else { throw HubError(.notFound, "no \(connector) connection has account \(account)") }
        guard rows.count == 1 else {
            throw HubError(.conflict, "more than one \(connector) connection has account \(account); use /v1/webhooks/{connection_id}")
        }
        return try await target(connection: id)
    }

    /// Verifies, stores and enqueues. Throws `WebhookRejection` for a bad or missing signature
    /// (before anything is stored), `HubError(.invalidInput)` for a body without id or type.
    public func receive(_ target: Target, body: [UInt8], header: (String) -> String?, now: Date = Date()) async throws -> Outcome {
        let info = target.connection
        let secret = try await signingSecret(info, field: target.policy.signature.secretField)
        let signed = try WebhookVerifier(target.policy.signature).verify(body: body, header: header, secret: secret, now: now)
        let event = try WebhookEvent(body: body, header: header, policy: target.policy)
        let inbox = WebhookInbox(client: client, keyring: keyring, logger: logger)
        let sealed = try await inbox.seal(tenant: info.tenant, connection: info.id, eventID: event.id, eventType: event.type,
                                          verifiedBy: target.policy.signature.scheme.rawValue, body: body, signed: signed)
        let queue = JobQueue(client: client, logger: logger)
        let stored = try await withDatabaseErrors("storing a webhook event") {
            try await client.withGuardedTransaction(logger: logger) { database -> Int64? in
                guard let id = try await inbox.insert(sealed, on: database) else { return nil }
                _ = try await queue.enqueue(
                    JobRequest(kind: Self.processKind, args: ["event": .number(Double(id))], maxAttempts: 10,
                               uniqueKey: "webhook:\(id)"),
                    on: database)
                return id
            }
        }
        guard let stored else { return .duplicate(eventID: event.id) }
        return .accepted(eventID: event.id, inboxID: stored)
    }

    private func signingSecret(_ info: ConnectionStore.ConnectionInfo, field: String) async throws -> Secret<[UInt8]> {
        let credentials = try await ConnectionStore(client: client, keyring: keyring, logger: logger)
            .credentials(for: info)
        guard !credentials.revealed.isEmpty,
              case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(credentials.revealed)),
              case .string(let secret)? = object[field] else { return Secret([]) }
        return Secret(Array(secret.utf8))
    }
}
