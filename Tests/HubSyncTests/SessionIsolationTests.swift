import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// A worker serves many connections of one connector with one parsed definition: a token one
/// connection logged in for must never authenticate another's requests.
@Suite("Session token isolation")
struct SessionIsolationTests {
    static let manifest = """
        version: 6.0.0
        type: DeclarativeSource
        streams:
          - type: DeclarativeStream
            name: notes
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester:
                type: HttpRequester
                url_base: "{{ config['base_url'] }}"
                path: /notes
                authenticator:
                  type: SessionTokenAuthenticator
                  login_requester:
                    type: HttpRequester
                    url_base: "{{ config['base_url'] }}"
                    path: /login
                    http_method: POST
                    request_body_json:
                      username: "{{ config['username'] }}"
                      password: "{{ config['password'] }}"
                  session_token_path: [token]
                  request_authentication:
                    type: Bearer
              record_selector:
                type: RecordSelector
                extractor: {type: DpathExtractor, field_path: [data]}
        spec:
          connection_specification:
            type: object
            required: [base_url, username, password]
            properties:
              base_url: {type: string}
              username: {type: string}
              password: {type: string, airbyte_secret: true}
        """

    /// Logs `NAME` in with password `pw-NAME` and serves NAME's two notes to `tok-NAME`.
    static func makeServer() -> FakeAPIServer {
        FakeAPIServer { request in
            switch request.path {
            case "/login":
                guard let body = try? JSONDecoder().decode([String: String].self, from: Data(request.body)),
                      let user = body["username"], body["password"] == "pw-\(user)" else {
                    return .json(#"{"error":"bad credentials"}"#, status: 401)
                }
                return .json(#"{"token":"tok-\#(user)"}"#)
            case "/notes":
                guard let auth = request.header("Authorization"), auth.hasPrefix("Bearer tok-") else {
                    return .json(#"{"error":"unauthorized"}"#, status: 401)
                }
                let user = auth.dropFirst("Bearer tok-".count)
                return .json(#"{"data":[{"id":"\#(user)-1","owner":"\#(user)"},{"id":"\#(user)-2","owner":"\#(user)"}]}"#)
            default:
                return .json(#"{"error":"not found"}"#, status: 404)
            }
        }
    }

    @Test("two connections synced one after the other by one worker each use their own session token")
    func tokensStayWithTheirConnection() async throws {
        let server = Self.makeServer()
        let url = try await TestDatabase.makeMigratedDatabase()
        try await server.withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let logger = TestDatabase.logger
                let keyring = Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, logger: logger))
                let (version, _) = try await ConnectorStore(client: client, logger: logger)
                    .register(name: "notes", manifest: Self.manifest, sidecar: "schedule: PT1H\naccount_concurrency: 1\n")
                var connections: [String: UUID] = [:]
                var harness: SyncHarness?
                // One tenant: account slots are per tenant, and the two syncs must share one.
                let tenant = try await TenantStore(client: client, logger: logger).create(name: "notes")
                for user in ["alice", "bob"] {
                    let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
                        // One account group of one slot: the syncs run one after the other, so the
                        // second starts with the first one's token at hand.
                        tenant: tenant.id, connector: "notes", connectorVersion: version, externalAccount: "shared",
                        config: ["base_url": .string(baseURL), "username": .string(user)],
                        credentials: Secret(Array(#"{"password":"pw-\#(user)"}"#.utf8))
                    )
                    connections[user] = connection
                    harness = SyncHarness(client: client, keyring: keyring, tenant: tenant.id, connection: connection)
                }
                let service = SyncService(client: client, logger: logger)
                var runs: [Int64] = []
                for user in ["alice", "bob"] { runs += try await service.start(connection: connections[user]!).map(\.run) }
                let finished = try await harness!.runWorker(until: runs, timeout: .seconds(60))
                #expect(finished.map(\.status) == [.succeeded, .succeeded], "\(finished.map { $0.error ?? "" })")
                for user in ["alice", "bob"] {
                    let rows = try await client.query(
                        "SELECT external_id FROM records WHERE connection_id = \(connections[user]!) ORDER BY external_id", logger: logger)
                    var ids: [String] = []
                    for try await id in rows.decode(String.self) { ids.append(id) }
                    #expect(ids == ["\(user)-1", "\(user)-2"], "connection of \(user) holds \(ids)")
                }
                // Each read logged in for itself.
                #expect(server.requests.filter { $0.path == "/login" }.count == 2)
            }
        }
    }

    @Test("account slots are per tenant: another tenant naming the same account shares none")
    func accountSlotsArePerTenant() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let logger = TestDatabase.logger
            let keyring = Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, logger: logger))
            let (version, _) = try await ConnectorStore(client: client, logger: logger)
                .register(name: "notes", manifest: Self.manifest, sidecar: "schedule: PT1H\naccount_concurrency: 1\n")
            var groups: [String] = []
            for name in ["victim", "squatter"] {
                let tenant = try await TenantStore(client: client, logger: logger).create(name: name)
                let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
                    tenant: tenant.id, connector: "notes", connectorVersion: version, externalAccount: "acct-1",
                    config: ["base_url": .string("https://notes.example.com"), "username": .string(name)],
                    credentials: Secret(Array(#"{"password":"pw"}"#.utf8)))
                _ = try await SyncService(client: client, logger: logger).start(connection: connection)
                let rows = try await client.query("SELECT group_key FROM jobs WHERE args->>'connection' = \(connection.uuidString.lowercased())",
                                                  logger: logger)
                for try await key in rows.decode(String?.self) { groups.append(key ?? "") }
            }
            #expect(groups.count == 2)
            #expect(Set(groups).count == 2, "both tenants' syncs share the slot group \(groups)")
            #expect(groups.allSatisfy { $0.hasPrefix("account:") && $0.hasSuffix(":notes:acct-1") })
        }
    }
}
