import AsyncHTTPClient
import Foundation
import HubAPI
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Testing
import TributaryTestSupport

/// Two tenants with a connection and five contacts each, keys of every kind, and a running
/// API server: the fixture every API suite shares (none instantiates another suite for it).
struct APIWorld: Sendable {
    static let sidecar = """
        credentials: [api_key]
        streams:
          contacts:
            sensitive: [email, phone]
            blind_index:
              email: lowercase_trim
        """
    static let manifest = """
        version: 6.0.0
        type: DeclarativeSource
        streams:
          - type: DeclarativeStream
            name: contacts
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester:
                type: HttpRequester
                url_base: "https://{{ config.get('subdomain', 'crm') }}.example.com"
                path: /contacts
                request_parameters: {region: "{{ config['region'] }}"}
              record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
        """

    struct World: Sendable {
        let baseURL: String
        let client: PostgresClient
        /// Where keys, credentials and the audit log are: `client` itself unless TRIBUTARY_TEST_VAULT=split.
        let vault: PostgresClient
        let tenantA: TenantID
        let connectionA: UUID
        let connectionB: UUID
        let readA: String
        let sensitiveA: String
        let readB: String
        let revokedA: String
        let writeA: String
        let admin: String
        let connectorsWriter: String
        let keyring: Keyring
    }

    /// Two tenants with a connection and 5 contacts each, keys, and a running API server.
    func withWorld(rateLimit: Double = 1000, rateBurst: Double? = nil, idleTimeout: Duration = .seconds(75),
                   metricsToken: String? = nil, authFailureBurst: Double = 100, trustedProxies: [IPRange] = [], _ body: @Sendable (World) async throws -> Void) async throws {
        // TRIBUTARY_TEST_VAULT=split: keys, credentials and the audit log in a database of their own.
        try await TestDatabase.withStores { client, vault in
            let logger = TestDatabase.logger
            let keyring = Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
            let tenants = TenantStore(client: client, logger: logger)
            let (version, _) = try await ConnectorStore(client: client, logger: logger).register(name: "crm", manifest: Self.manifest, sidecar: Self.sidecar)
            let keys = ApiKeyStore(client: client, logger: logger)
            let policy = RecordPolicy(sensitiveFields: ["email", "phone"], blindIndexes: [BlindIndexField(name: "email", normalizer: .lowercaseTrim)])
            var connections: [UUID] = []
            var tenantIDs: [TenantID] = []
            for label in ["a", "b"] {
                let tenant = try await tenants.create(name: "tenant \(label)")
                let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
                    tenant: tenant.id, connector: "crm", connectorVersion: version, credentials: Secret([])
                )
                try await RecordWriter(client: client, keyring: keyring, logger: logger).upsert(
                    tenant: tenant.id, connection: connection, stream: "contacts",
                    records: (1...5).map { RecordWriter.Input(externalID: "c\($0)", fields: [
                        "id": .string("c\($0)"), "name": .string("Contact \($0)"),
                        "email": .string("Person\($0)@Example.com"), "phone": .string("+1 555 000\($0)"),
                    ]) },
                    policy: policy
                )
                connections.append(connection)
                tenantIDs.append(tenant.id)
            }
            let readA = try await keys.create(tenant: tenantIDs[0], name: "read", scopes: [.recordsRead]).key.revealed
            let sensitiveA = try await keys.create(tenant: tenantIDs[0], name: "sensitive", scopes: [.recordsRead, .recordsReadSensitive]).key.revealed
            let readB = try await keys.create(tenant: tenantIDs[1], name: "read", scopes: [.recordsRead]).key.revealed
            let writeA = try await keys.create(tenant: tenantIDs[0], name: "ops", scopes: [.connectionsWrite]).key.revealed
            let admin = try await keys.create(tenant: nil, name: "operator", scopes: [.admin]).key.revealed
            let connectorsWriter = try await keys.create(tenant: nil, name: "author", scopes: [.connectorsWrite]).key.revealed
            let revoked = try await keys.create(tenant: tenantIDs[0], name: "old", scopes: [.recordsRead])
            try await keys.revoke(revoked.id)

            let ports = PortBox()
            var configuration = APIServer.Configuration(host: "127.0.0.1", port: 0, rateLimit: rateLimit, rateBurst: rateBurst ?? rateLimit * 2)
            configuration.idleTimeout = idleTimeout
            configuration.metricsToken = metricsToken.map { Secret($0) }
            configuration.authFailureBurst = authFailureBurst
            configuration.authFailureRate = 0.01
            configuration.trustedProxies = trustedProxies
            let app = APIServer.build(configuration: configuration, postgres: client, keyring: keyring, logger: logger,
                                      onServerRunning: { port in await ports.store(port) })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                defer { group.cancelAll() }
                let port = try await ports.wait()
                try await body(World(baseURL: "http://127.0.0.1:\(port)", client: client, vault: vault, tenantA: tenantIDs[0],
                                     connectionA: connections[0], connectionB: connections[1], readA: readA,
                                     sensitiveA: sensitiveA, readB: readB, revokedA: revoked.key.revealed, writeA: writeA, admin: admin, connectorsWriter: connectorsWriter,
                                     keyring: keyring))
            }
        }
    }

    struct Reply {
        let status: Int
        let json: JSONValue
        let headers: [String: String]
    }

    func get(_ url: String, key: String?, headers extra: [String: String] = [:], method: HTTPMethod = .GET, body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))) ?? .null
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return Reply(status: Int(response.status.code), json: json, headers: headers)
    }

    /// Links a `contacts` record of `connection` to a `person` entity, as a mapped sync would:
    /// `email` sealed and blind-indexed, the rest in clear.
    func linkPerson(_ world: World, _ tenant: TenantID, _ connection: UUID, _ id: String, _ fields: [String: String]) async throws {
        let logger = TestDatabase.logger
        let protector = RecordProtector(
            policy: RecordPolicy(sensitiveFields: ["email"], blindIndexes: [BlindIndexField(name: "email", normalizer: .lowercaseTrim)]),
            key: try await world.keyring.encryptionKey(for: tenant), indexKey: try await world.keyring.indexKey(for: tenant), table: "unified_sources")
        let row = EntityReader.rowIdentity(connection: connection, stream: "contacts", externalID: id, model: "person")
        let source = EntityStore.SourceInput(connection: connection, stream: "contacts", externalID: id, connector: "crm",
                                             protected: try protector.protect(fields.mapValues(JSONValue.string), row: row), sourceUpdatedAt: nil)
        _ = try await world.client.withTransaction(logger: logger) { database in
            try await EntityStore(logger: logger).link(on: database, tenant: tenant, model: "person", sources: [source])
        }
    }
}
