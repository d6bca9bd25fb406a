import AsyncHTTPClient
import Foundation
import HubAPI
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import HubSync
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import Testing
import TributaryTestSupport

/// `POST /v1/webhooks/…` through real HTTP, with the inbox processed by a real worker.
@Suite("Webhooks")
struct WebhookTests {
    static let sidecar = """
        credentials: [api_key, webhook_secret]
        streams:
          contacts:
            cursor_field: updated_at
            sensitive: [email]
            blind_index:
              email: lowercase_trim
        webhooks:
          signature: {scheme: stripe, secret: webhook_secret, tolerance: PT5M}
          event_id: id
          event_type: type
          account: account
          max_body_bytes: 2048
          events:
            contact.created: {stream: contacts, record: data.object}
            contact.updated: {stream: contacts, record: data.object}
            contact.deleted: {stream: contacts, record: data.object, delete: true}
        """

    struct World: Sendable {
        let baseURL: String
        let client: PostgresClient
        let keyring: Keyring
        let tenant: TenantID
        let otherTenant: TenantID
        let connection: UUID
        let connector: String
        let readKey: String
        let otherTenantKey: String
        let secret: [UInt8]
    }

    func withWorld(sidecar: String = WebhookTests.sidecar, _ body: @Sendable (World) async throws -> Void) async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let logger = TestDatabase.logger
            let keyring = Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, logger: logger))
            let (version, _) = try await ConnectorStore(client: client, logger: logger)
                .register(name: "crm", manifest: APIWorld.manifest, sidecar: sidecar)
            let tenants = TenantStore(client: client, logger: logger)
            let tenant = try await tenants.create(name: "webhooks")
            let other = try await tenants.create(name: "other")
            let secret = "whsec_\(UUID().uuidString)"
            let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
                tenant: tenant.id, connector: "crm", connectorVersion: version, externalAccount: "acct_42",
                credentials: Secret(Array(#"{"api_key":"k","webhook_secret":"\#(secret)"}"#.utf8))
            )
            let keys = ApiKeyStore(client: client, logger: logger)
            let readKey = try await keys.create(tenant: tenant.id, name: "read", scopes: [.recordsRead, .recordsReadSensitive]).key.revealed
            let otherKey = try await keys.create(tenant: other.id, name: "read", scopes: [.recordsRead]).key.revealed
            let ports = PortBox()
            let app = APIServer.build(configuration: .init(host: "127.0.0.1", port: 0, rateLimit: 1000), postgres: client,
                                      keyring: keyring, logger: logger, onServerRunning: { port in await ports.store(port) })
            let worker = WorkerPool(
                client: client,
                configuration: WorkerConfiguration(queues: [.init(name: "default", slots: 2)], pollInterval: .milliseconds(50)),
                handlers: SyncJobs.handlers(client: client, keyring: keyring, logger: logger, transport: LoopbackEgress.transport), logger: logger
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                group.addTask { try await worker.run() }
                defer { group.cancelAll() }
                let port = try await ports.wait()
                try await body(World(baseURL: "http://127.0.0.1:\(port)", client: client, keyring: keyring, tenant: tenant.id,
                                     otherTenant: other.id, connection: connection, connector: "crm", readKey: readKey, otherTenantKey: otherKey,
                                     secret: Array(secret.utf8)))
            }
        }
    }

    struct Reply {
        let status: Int
        let json: JSONValue
    }

    func post(_ url: String, body: [UInt8], headers: [String: String]) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.body = .bytes(ByteBuffer(bytes: body))
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), json: (try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView))) ?? .null)
    }

    func get(_ url: String, key: String) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), json: (try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView))) ?? .null)
    }

    static func event(_ id: String, type: String = "contact.updated", contact: String = "c1", email: String = "Ada@Example.com",
                      updatedAt: String = "2026-01-02T00:00:00Z", account: String = "acct_42") -> [UInt8] {
        Array("""
            {"id":"\(id)","type":"\(type)","account":"\(account)","data":{"object":{"id":"\(contact)","name":"Ada","email":"\(email)","updated_at":"\(updatedAt)"}}}
            """.utf8)
    }

    func signed(_ body: [UInt8], _ world: World, at time: Date = Date()) -> [String: String] {
        ["Stripe-Signature": WebhookVerifier.sign(body: body, secret: world.secret, scheme: .stripe, timestamp: Int(time.timeIntervalSince1970))]
    }

    func count(_ client: PostgresClient, _ sql: PostgresQuery) async throws -> Int {
        for try await value in try await client.query(sql, logger: TestDatabase.logger).decode(Int.self) { return value }
        return 0
    }

    /// Waits until the inbox has no unprocessed event.
    func drained(_ world: World) async throws {
        let waiting = try await eventually(timeout: .seconds(10), every: .milliseconds(50), {
            try await count(world.client, "SELECT count(*)::int FROM webhook_events WHERE status = 'received'")
        }, until: { $0 == 0 })
        #expect(waiting == 0, "webhook events were not processed within 10 s")
    }

    func record(_ world: World, _ id: String) async throws -> JSONValue? {
        let page = try await get("\(world.baseURL)/v1/records?connection_id=\(world.connection)&stream=contacts&include_deleted=true",
                                 key: world.readKey)
        return page.json["data"]?.arrayValue?.first { $0["id"] == .string(id) }
    }

    /// GitHub signs the body only; its delivery id is an unsigned header.
    static let githubSidecar = """
        credentials: [api_key, webhook_secret]
        webhooks:
          signature: {scheme: github, secret: webhook_secret}
          event_id: {header: X-GitHub-Delivery}
          event_type: type
          events:
            contact.updated: {stream: contacts, record: data.object}
        """

    @Test("a captured body replayed with a fresh unsigned delivery id is recognised by what the signature covers")
    func replayWithNewEventID() async throws {
        try await withWorld(sidecar: Self.githubSidecar) { world in
            let url = "\(world.baseURL)/v1/webhooks/\(world.connection)"
            let body = Self.event("evt_gh")
            let signature = WebhookVerifier.sign(body: body, secret: world.secret, scheme: .github, timestamp: 0)
            let first = try await post(url, body: body, headers: ["X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-1"])
            #expect(first.json["status"] == .string("accepted"), "\(first.json)")
            let replayed = try await post(url, body: body, headers: ["X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-2-forged"])
            #expect(replayed.status == 200)
            #expect(replayed.json["status"] == .string("duplicate"), "\(replayed.json)")
            // A new event (another body) is still accepted.
            let next = Self.event("evt_gh2", email: "other@example.com")
            let nextSignature = WebhookVerifier.sign(body: next, secret: world.secret, scheme: .github, timestamp: 0)
            #expect(try await post(url, body: next, headers: ["X-Hub-Signature-256": nextSignature, "X-GitHub-Delivery": "d-3"])
                .json["status"] == .string("accepted"))
            try await drained(world)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events") == 2)
        }
    }

    @Test("a verified event is stored, acknowledged and processed; a replay is acknowledged once")
    func acceptAndReplay() async throws {
        try await withWorld { world in
            let url = "\(world.baseURL)/v1/webhooks/\(world.connection)"
            let body = Self.event("evt_1")
            let first = try await post(url, body: body, headers: signed(body, world))
            #expect(first.status == 200)
            #expect(first.json["status"] == .string("accepted"))
            #expect(first.json["event_id"] == .string("evt_1"))
            let replay = try await post(url, body: body, headers: signed(body, world))
            #expect(replay.status == 200)
            #expect(replay.json["status"] == .string("duplicate"))
            try await drained(world)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events") == 1)
            #expect(try await count(world.client, "SELECT count(*)::int FROM jobs WHERE kind = 'webhook.process'") == 1)
            let record = try await record(world, "c1")
            #expect(record?["data"]?["email"] == .string("Ada@Example.com"))
            // Sealed at rest, and findable through the blind index.
            #expect(try await count(world.client, "SELECT count(*)::int FROM records WHERE data::text LIKE '%Ada@%'") == 0)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events WHERE position('Ada@'::bytea in payload) > 0") == 0)
            let found = try await get("\(world.baseURL)/v1/records?connection_id=\(world.connection)&stream=contacts&email=%20ada@example.COM",
                                      key: world.readKey)
            #expect(found.json["data"]?.arrayValue?.count == 1)
            let events = try await get("\(world.baseURL)/v1/connections/\(world.connection)/webhook-events", key: world.readKey)
            #expect(events.status == 200)
            #expect(events.json["data"]?.arrayValue?.first?["status"] == .string("processed"))
            #expect(try await get("\(world.baseURL)/v1/connections/\(world.connection)/webhook-events", key: world.otherTenantKey).status == 404)
        }
    }

    @Test("missing, wrong, stale or foreign signatures get 401 and store nothing")
    func rejections() async throws {
        try await withWorld { world in
            let url = "\(world.baseURL)/v1/webhooks/\(world.connection)"
            let body = Self.event("evt_bad")
            let missing = try await post(url, body: body, headers: [:])
            #expect(missing.status == 401)
            #expect(missing.json["code"] == .string("webhook_rejected"))
            let foreign = WebhookVerifier.sign(body: body, secret: Array("whsec_attacker".utf8), scheme: .stripe,
                                               timestamp: Int(Date().timeIntervalSince1970))
            #expect(try await post(url, body: body, headers: ["Stripe-Signature": foreign]).status == 401)
            let stale = try await post(url, body: body, headers: signed(body, world, at: Date().addingTimeInterval(-600)))
            #expect(stale.status == 401)
            // Every refusal reads the same: an unknown connection is told apart from a bad signature by nothing.
            #expect(stale.json["detail"] == missing.json["detail"])
            // Signed for one body, sent with another.
            #expect(try await post(url, body: Self.event("evt_other"), headers: signed(body, world)).status == 401)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events") == 0)
            #expect(try await count(world.client, "SELECT count(*)::int FROM records") == 0)

            let unknown = try await post("\(world.baseURL)/v1/webhooks/\(UUID())", body: body, headers: signed(body, world))
            #expect(unknown.status == 401)
            #expect(unknown.json["detail"] == missing.json["detail"])
            #expect(try await post("\(world.baseURL)/v1/webhooks/not-a-uuid", body: body, headers: signed(body, world)).status == 401)
            let large = Array(#"{"id":"evt_big","type":"contact.updated","pad":"\#(String(repeating: "x", count: 4096))"}"#.utf8)
            let tooLarge = try await post(url, body: large, headers: signed(large, world))
            #expect(tooLarge.status == 413)
            #expect(tooLarge.json["code"] == .string("payload_too_large"))
            let notJSON = Array("id=evt_3".utf8)
            let bad = try await post(url, body: notJSON, headers: signed(notJSON, world))
            #expect(bad.status == 400)
            let noID = Array(#"{"type":"contact.updated"}"#.utf8)
            let missingID = try await post(url, body: noID, headers: signed(noID, world))
            #expect(missingID.status == 400)
            #expect(missingID.json["detail"]?.stringValue?.contains("no event id at id") == true)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events") == 0)
        }
    }

    @Test("a webhook update is never overwritten by an older polled version; deletes and unknown types")
    func ordering() async throws {
        try await withWorld { world in
            let url = "\(world.baseURL)/v1/webhooks/\(world.connection)"
            let update = Self.event("evt_new", email: "new@example.com", updatedAt: "2026-03-01T00:00:00Z")
            #expect(try await post(url, body: update, headers: signed(update, world)).status == 200)
            try await drained(world)
            // A poll that read the record before the change lands afterwards: it must not win.
            let definition = try ConnectorDefinition(name: "crm", manifest: APIWorld.manifest, sidecar: Self.sidecar)
            let writer = RecordWriter(client: world.client, keyring: world.keyring, logger: TestDatabase.logger)
            func poll(_ email: String, _ updatedAt: String) async throws -> Int {
                try await writer.upsert(
                    tenant: world.tenant, connection: world.connection, stream: "contacts",
                    records: [RecordWriter.Input(externalID: "c1", fields: ["id": "c1", "name": "Ada", "email": .string(email),
                                                                             "updated_at": .string(updatedAt)],
                                                 sourceUpdatedAt: SourceTimestamp.parse(.string(updatedAt)))],
                    policy: definition.recordPolicy("contacts"))
            }
            #expect(try await poll("old@example.com", "2026-02-01T00:00:00Z") == 0)
            #expect(try await record(world, "c1")?["data"]?["email"] == .string("new@example.com"))
            #expect(try await poll("newest@example.com", "2026-04-01T00:00:00Z") == 1)
            #expect(try await record(world, "c1")?["data"]?["email"] == .string("newest@example.com"))

            // An older webhook changes nothing either.
            let late = Self.event("evt_late", email: "late@example.com", updatedAt: "2026-01-15T00:00:00Z")
            #expect(try await post(url, body: late, headers: signed(late, world)).status == 200)
            let delete = Self.event("evt_del", type: "contact.deleted", updatedAt: "2026-05-01T00:00:00Z")
            #expect(try await post(url, body: delete, headers: signed(delete, world)).status == 200)
            let other = Array(#"{"id":"evt_x","type":"invoice.paid","account":"acct_42"}"#.utf8)
            #expect(try await post(url, body: other, headers: signed(other, world)).status == 200)
            try await drained(world)
            let deleted = try await record(world, "c1")
            #expect(deleted?["data"]?["email"] == .string("newest@example.com"))
            #expect(deleted?["deleted_at"] != .null)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events WHERE status = 'ignored' AND provider_event_id = 'evt_x'") == 1)
            // The deletion is newer than this poll: the record stays deleted.
            #expect(try await poll("newest@example.com", "2026-04-01T00:00:00Z") == 0)
            #expect(try await record(world, "c1")?["deleted_at"] != .null)
        }
    }

    @Test("the per-connector URL routes by the event's account within its tenant; another tenant claiming the account changes nothing")
    func perConnector() async throws {
        try await withWorld { world in
            // Tenant "other" names its own connection with the same account (and its own secret).
            let version = try await ConnectorStore(client: world.client, logger: TestDatabase.logger).definition(name: "crm").version
            let squatter = try await ConnectionStore(client: world.client, keyring: world.keyring, logger: TestDatabase.logger).create(
                tenant: world.otherTenant, connector: "crm", connectorVersion: version, externalAccount: "acct_42",
                credentials: Secret(Array(#"{"api_key":"k","webhook_secret":"whsec_squatter"}"#.utf8)))
            let url = "\(world.baseURL)/v1/webhooks/tenants/\(world.tenant)/connectors/\(world.connector)"
            let body = Self.event("evt_route", contact: "c9")
            let reply = try await post(url, body: body, headers: signed(body, world))
            #expect(reply.status == 200, "\(reply.json)")
            let stranger = Self.event("evt_stranger", account: "acct_unknown")
            let unknown = try await post(url, body: stranger, headers: signed(stranger, world))
            #expect(unknown.status == 401)
            #expect(unknown.json["code"] == .string("webhook_rejected"))
            #expect(try await post("\(world.baseURL)/v1/webhooks/tenants/\(world.tenant)/connectors/nope", body: body, headers: signed(body, world)).status == 401)
            // The squatter's tenant URL with the squatter's own signature reaches only the squatter's connection.
            let squatterURL = "\(world.baseURL)/v1/webhooks/tenants/\(world.otherTenant)/connectors/\(world.connector)"
            let own = Self.event("evt_own", contact: "c10")
            let ownSignature = WebhookVerifier.sign(body: own, secret: Array("whsec_squatter".utf8), scheme: .stripe,
                                                    timestamp: Int(Date().timeIntervalSince1970))
            #expect(try await post(squatterURL, body: own, headers: ["Stripe-Signature": ownSignature]).status == 200)
            // The real tenant's events never verify against the squatter's connection.
            #expect(try await post(squatterURL, body: body, headers: signed(body, world)).status == 401)
            try await drained(world)
            #expect(try await record(world, "c9") != nil)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events WHERE connection_id = \(squatter)") == 1)
            #expect(try await count(world.client, "SELECT count(*)::int FROM webhook_events WHERE connection_id = \(world.connection)") == 1)
        }
    }
}
