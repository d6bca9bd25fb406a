import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import PostgresNIO
import Synchronization
import Testing
import TributaryTestSupport

/// A real API source from PyPI with custom Python components (`airbyte-source-gitlab`, whose
/// manifest routes partitions through its own `GroupStreamsPartitionRouter` and
/// `ProjectStreamsPartitionRouter`), pointed at a local fake GitLab through its `api_url`
/// (self-hosted GitLab is a supported setup), run through the egress proxy: check with a good
/// and a bad token, discover, a sync into PostgreSQL, and a second sync from the saved state.
@Suite("airbyte-source-gitlab from PyPI against a fake GitLab")
struct GitLabSourceTests {
    static let runtimes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".test-runtimes").path

    static let sidecar = """
        credentials: [credentials]
        runtime:
          pypi: airbyte-source-gitlab==4.3.7
        streams:
          projects:
            primary_key: [id]
          issues:
            primary_key: [id]
            cursor_field: updated_at
            sensitive: [title]
        """

    /// GitLab's REST API as the source reads it: a group, its project, and the project's
    /// issues filtered by `updated_after`/`updated_before`, behind a private token.
    final class FakeGitLab: Sendable {
        static let token = "glpat-good-token"
        let issueCount = Mutex(3)

        func issues(after: String, before: String) -> String {
            let count = issueCount.withLock { $0 }
            let items = (1...count).map { number in
                #"{"id": \#(100 + number), "iid": \#(number), "title": "Issue \#(number)", "state": "opened", "#
                    + #""updated_at": "2026-11-0\#(number)T10:00:00.000Z", "author": {"id": 5, "username": "ada"}}"#
            }.filter { item in
                // The window's bounds compare as GitLab compares them: on the instant, to the second.
                let updated = String(item.split(separator: "\"updated_at\": \"")[1].prefix(19)) + "Z"
                return (after.isEmpty || updated >= after) && (before.isEmpty || updated <= before)
            }
            return "[" + items.joined(separator: ", ") + "]"
        }

        func reply(_ request: FakeAPIServer.LoggedRequest) -> FakeAPIServer.Reply {
            guard request.header("Authorization") == "Bearer \(Self.token)" else { return .json(#"{"message": "401 Unauthorized"}"#, status: 401) }
            switch request.path.replacingOccurrences(of: "%2F", with: "/") {
            case "/api/v4/groups": return .json(#"[{"id": 7, "name": "acme", "full_path": "acme"}]"#)
            case "/api/v4/groups/7":
                return .json(#"{"id": 7, "name": "acme", "projects": [{"id": 11, "path_with_namespace": "acme/app", "name": "app"}]}"#)
            case "/api/v4/projects/acme/app":
                return .json(#"{"id": 11, "name": "app", "path_with_namespace": "acme/app", "visibility": "private", "archived": false}"#)
            case "/api/v4/projects/11/issues":
                return .json(issues(after: request.query["updated_after"] ?? "", before: request.query["updated_before"] ?? ""))
            default: return .json(#"{"message": "404 Not Found"}"#, status: 404)
            }
        }
    }

    /// What the package's own read printed, collected from the callback.
    final class Messages: Sendable {
        private let messages = Mutex<[AirbyteMessage]>([])
        func append(_ message: AirbyteMessage) { messages.withLock { $0.append(message) } }
        var all: [AirbyteMessage] { messages.withLock { $0 } }
    }

    static func config(_ base: String, token: String) -> [String: JSONValue] {
        ["api_url": .string(base), "start_date": "2026-06-01T00:00:00Z",
         "credentials": ["auth_type": "access_token", "access_token": .string(token)]]
    }

    /// The records a stream's rows hold, keyed by id: the plain columns, as stored.
    static func stored(_ harness: SyncHarness, stream: String) async throws -> [String: JSONValue] {
        let rows = try await harness.client.query(
            "SELECT external_id, data::text FROM records WHERE connection_id = \(harness.connection) AND stream = \(stream)",
            logger: harness.logger
        )
        var found: [String: JSONValue] = [:]
        for try await (id, data) in rows.decode((String, String).self) {
            found[id] = try JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))
        }
        return found
    }

    @Test("checked with a good and a bad token, synced into the store as its own read prints it, then resumed from its state")
    func gitlabSyncsFromAFakeAPI() async throws {
        let gitlab = FakeGitLab()
        let server = FakeAPIServer { request in gitlab.reply(request) }
        let url = try await TestDatabase.makeMigratedDatabase()
        try await server.withRunning { base in
            try await TestDatabase.withClient(url) { client in
                let logger = TestDatabase.logger
                // The fake listens on loopback: the egress proxy allows exactly that, as an
                // operator's TRIBUTARY_EGRESS_ALLOW would.
                let environments = PythonEnvironments(root: Self.runtimes, egress: EgressPolicy(allowed: try EgressPolicy.parseAllowList("127.0.0.1/32")),
                                                      logger: logger)
                let vault = try await TestDatabase.vault(for: client)
                let keyring = Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
                let tenant = try await TenantStore(client: client, logger: logger).create(name: "gitlab test").id
                let name = "gitlab-\(UUID().uuidString.prefix(8).lowercased())"
                let definition = try ConnectorDefinition(name: name, manifest: "", sidecar: Self.sidecar)
                _ = try await ConnectorStore(client: client, logger: logger).register(name: name, manifest: definition.manifestText, sidecar: definition.sidecarText)
                let service = ConnectionService(client: client, keyring: keyring, catalog: ConnectorCatalog(store: ConnectorStore(client: client, logger: logger)),
                                                processes: environments, logger: logger)

                // check: a bad token is refused with the source's own message, and nothing is stored.
                let refused = await #expect(throws: HubError.self) {
                    _ = try await service.create(.init(tenant: tenant, connector: name, config: Self.config(base, token: "glpat-revoked")))
                }
                #expect(refused?.code == .invalidConfig)
                #expect(refused?.message.contains("Unable to refresh the `access_token`") == true, "\(String(describing: refused))")
                #expect(refused?.message.contains("glpat-revoked") == false)
                // A good one passes the check and discover (which must offer the sidecar's streams).
                let created = try await service.create(.init(tenant: tenant, connector: name, config: Self.config(base, token: FakeGitLab.token)))
                var harness = SyncHarness(client: client, keyring: keyring, tenant: tenant, connection: created.id)
                harness.processes = environments
                // The token is a credential: sealed, not in the connection's config.
                #expect(try await harness.connections.connection(created.id).config.objectValue?["credentials"] == nil)

                let first = try await harness.sync(timeout: .seconds(300), requestTimeout: .seconds(120))
                #expect(first.map(\.status).allSatisfy { $0 == .succeeded }, "\(first.map { $0.error ?? "" })")

                // The same package's own read, on the same fake, is what the store must hold.
                let command = try await environments.command(for: try ProcessRuntime(package: "airbyte-source-gitlab", version: "4.3.7"))
                let source = ProcessSource(process: AirbyteProcess(command: command, limits: .init(try ProcessRuntime(package: "airbyte-source-gitlab", version: "4.3.7")),
                                                                   egress: environments.egress, logger: logger))
                var config = PyDict()
                for (key, value) in Self.config(base, token: FakeGitLab.token) { config[.string(key)] = PyValue(json: value) }
                let discovered = try await source.discover(config: .dict(config))
                let catalog = ProcessSource.configuredCatalog(from: discovered, streams: ["projects", "issues"])
                let collected = Messages()
                try await source.read(config: .dict(config), catalog: catalog, state: nil) { message in collected.append(message) }
                let messages = collected.all
                for stream in ["projects", "issues"] {
                    var expected: [String: JSONValue] = [:]
                    for case .record(stream, let data) in messages {
                        guard case .object(var fields) = data.json, case .number(let id)? = fields["id"] else { continue }
                        if stream == "issues" { fields["title"] = nil }  // sealed, not in the plain columns
                        expected[String(Int(id))] = .object(fields)
                    }
                    #expect(!expected.isEmpty)
                    #expect(try await Self.stored(harness, stream: stream) == expected, "stream \(stream)")
                }
                let ownState = messages.compactMap { message -> JSONValue? in
                    if case .state(.stream(name: "issues", let state)) = message { state.json } else { nil }
                }.last
                let saved = try await harness.syncs.state(connection: harness.connection, stream: "issues")
                #expect(saved != nil && saved == ownState, "\(String(describing: saved)) vs \(String(describing: ownState))")
                // Titles are sealed: not in any row in clear.
                #expect(try await harness.count("""
                    SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)
                      AND (data ? 'title' OR position(convert_to('Issue 1', 'UTF8') in sensitive) > 0)
                    """) == 0)

                // A fourth issue; the next sync starts from the saved cursor, not the start date.
                gitlab.issueCount.withLock { $0 = 4 }
                let before = server.requests.count
                let second = try await harness.sync(timeout: .seconds(300), requestTimeout: .seconds(120))
                #expect(second.map(\.status).allSatisfy { $0 == .succeeded }, "\(second.map { $0.error ?? "" })")
                let issueRequests = server.requests.dropFirst(before).filter { $0.path.hasSuffix("/issues") }
                #expect(!issueRequests.isEmpty && issueRequests.allSatisfy { ($0.query["updated_after"] ?? "") >= "2026-11-03T10:00:00Z" },
                        "\(issueRequests.map(\.rawQuery))")
                #expect(try await Self.stored(harness, stream: "issues").keys.sorted() == ["101", "102", "103", "104"])
            }
        }
    }
}
