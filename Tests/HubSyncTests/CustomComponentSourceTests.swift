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

/// Airbyte sources whose manifests declare custom Python components, run as their own PyPI
/// packages (the engine refuses `Custom*` components; the process runtime is how they run),
/// each against a local fake of its API. What a sync stores must equal what the same package's
/// own `read` prints on the same fake: records (their plain columns) and states.
///
/// Neither API's host is configurable, so the installed package's `manifest.yaml` has its
/// `url_base` host pointed at the fake through a config key, the only change, as the CDK
/// oracle's README prescribes for running manifests offline. The custom components (Python
/// classes in the package) run unchanged.
@Suite("Custom-component sources from PyPI against fake APIs")
struct CustomComponentSourceTests {
    struct Case: Sendable {
        let package: String
        let version: String
        /// The package's module folder and the host text its manifest's `url_base` starts with.
        let module: String
        let host: String
        let sidecar: String
        let config: @Sendable (String) -> [String: JSONValue]
        let streams: [String]
        /// Streams whose saved state must equal the package's own last state.
        let comparedStates: [String]
        let sensitive: [String: [String]]
        let api: @Sendable (FakeAPIServer.LoggedRequest, String) -> FakeAPIServer.Reply
    }

    /// Greenhouse Harvest: Basic auth with the API key, Link-header pagination by URL, an
    /// incremental parent and a substream migrated by `GreenhouseStateMigration`.
    static let greenhouse = Case(
        package: "airbyte-source-greenhouse", version: "0.6.1", module: "source_greenhouse", host: "https://harvest.greenhouse.io",
        sidecar: """
            credentials: [api_key]
            runtime:
              pypi: airbyte-source-greenhouse==0.6.1
            streams:
              users: {primary_key: [id], cursor_field: updated_at, sensitive: [primary_email_address]}
              applications: {primary_key: [id], cursor_field: updated_at}
              applications_demographics_answers: {primary_key: [id], cursor_field: updated_at}
            """,
        config: { base in ["api_key": "gh-key-1", "tributary_test_api": .string(base)] },
        streams: ["users", "applications", "applications_demographics_answers"], comparedStates: ["users", "applications"],
        sensitive: ["users": ["primary_email_address"]],
        api: { request, base in
            guard request.header("Authorization") == "Basic " + Data("gh-key-1:".utf8).base64EncodedString() else {
                return .json(#"{"message": "Invalid Basic Auth credentials"}"#, status: 401)
            }
            let after = request.query["updated_after"] ?? ""
            func since<T>(_ items: [(String, T)]) -> [T] { items.filter { after.isEmpty || $0.0 >= after }.map(\.1) }
            switch request.path {
            case "/v1/users" where request.query["page"] == "2":
                return .json(#"[{"id": 3, "name": "Lin", "primary_email_address": "lin@acme.test", "updated_at": "2026-11-03T10:00:00.000Z"}]"#)
            case "/v1/users":
                let users = since([("2026-11-01T10:00:00.000Z", #"{"id": 1, "name": "Ada", "primary_email_address": "ada@acme.test", "updated_at": "2026-11-01T10:00:00.000Z", "disabled": false}"#),
                                   ("2026-11-02T10:00:00.000Z", #"{"id": 2, "name": "Bo", "primary_email_address": "bo@acme.test", "updated_at": "2026-11-02T10:00:00.000Z", "disabled": null}"#)])
                return FakeAPIServer.Reply(status: 200, body: Array(("[" + users.joined(separator: ",") + "]").utf8),
                                           headers: [("Content-Type", "application/json"), ("Link", "<\(base)/v1/users?page=2&per_page=100>; rel=\"next\"")])
            case "/v1/applications":
                return .json("[" + since([("2026-11-04T09:00:00.000Z", #"{"id": 501, "candidate_id": 70, "status": "active", "updated_at": "2026-11-04T09:00:00.000Z"}"#),
                                          ("2026-11-05T09:00:00.000Z", #"{"id": 502, "candidate_id": 71, "status": "rejected", "updated_at": "2026-11-05T09:00:00.000Z"}"#)])
                    .joined(separator: ",") + "]")
            case "/v1/applications/501/demographics/answers":
                return .json(#"[{"id": 9001, "application_id": 501, "free_form_text": "prefer not to say", "updated_at": "2026-11-04T09:30:00.000Z"}]"#)
            case "/v1/applications/502/demographics/answers":
                return .json("[]")
            default:
                return .json(#"{"message": "Resource not found"}"#, status: 404)
            }
        }
    )

    /// Intercom: every request goes through the package's `ErrorHandlerWithRateLimiter`, and
    /// segments are read semi-incrementally through its `IncrementalSingleSliceCursor`.
    static let intercom = Case(
        package: "airbyte-source-intercom", version: "0.8.3", module: "source_intercom", host: "https://api.intercom.io",
        sidecar: """
            credentials: [access_token]
            runtime:
              pypi: airbyte-source-intercom==0.8.3
            streams:
              admins: {primary_key: [id], sensitive: [email]}
              tags: {primary_key: [name]}
              segments: {primary_key: [id], cursor_field: updated_at}
            """,
        config: { base in ["access_token": "ic-token-1", "start_date": "2026-06-01T00:00:00Z", "tributary_test_api": .string(base)] },
        streams: ["admins", "tags", "segments"], comparedStates: ["segments"], sensitive: ["admins": ["email"]],
        api: { request, base in
            guard request.header("Authorization") == "Bearer ic-token-1" else {
                return .json(#"{"type": "error.list", "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}]}"#, status: 401)
            }
            switch request.path {
            case "/tags":
                return .json(#"{"type": "list", "data": [{"type": "tag", "id": "17", "name": "VIP"}, {"type": "tag", "id": "18", "name": "Churn risk"}]}"#)
            case "/admins":
                return .json(#"""
                    {"type": "admin.list", "admins": [
                        {"type": "admin", "id": "991", "name": "Ada", "email": "ada@acme.test", "away_mode_enabled": false, "has_inbox_seat": true, "team_ids": [4]},
                        {"type": "admin", "id": "992", "name": "Bo", "email": "bo@acme.test", "away_mode_enabled": true, "has_inbox_seat": false, "team_ids": []}]}
                    """#)
            case "/segments":
                return .json(#"""
                    {"type": "segment.list", "segments": [
                        {"type": "segment", "id": "s1", "name": "Active", "created_at": 1793527200, "updated_at": 1793613600, "person_type": "user"},
                        {"type": "segment", "id": "s2", "name": "Leads", "created_at": 1793527200, "updated_at": 1793700000, "person_type": "contact"}]}
                    """#)
            default:
                return .json(#"{"type": "error.list", "errors": [{"code": "not_found"}]}"#, status: 404)
            }
        }
    )

    /// The installed package's manifest with its `url_base` host taken from `tributary_test_api`
    /// (idempotent: a manifest already pointed there is left as it is).
    static func pointAtFake(command: [String], module: String, host: String) throws {
        guard let script = command.first else { throw HubError(.internalError, "no command") }
        let environment = URL(fileURLWithPath: script).deletingLastPathComponent().deletingLastPathComponent()
        let lib = environment.appendingPathComponent("lib")
        let python = try FileManager.default.contentsOfDirectory(atPath: lib.path).first { $0.hasPrefix("python3") }
        guard let python else { throw HubError(.internalError, "no python3.* under \(lib.path)") }
        let manifest = lib.appendingPathComponent("\(python)/site-packages/\(module)/manifest.yaml")
        let text = try String(contentsOf: manifest, encoding: .utf8)
        let pointed = text.replacingOccurrences(of: host, with: "{{ config['tributary_test_api'] }}")
        #expect(text.contains(host) || text.contains("config['tributary_test_api']"), "the manifest's url_base changed: \(manifest.path)")
        if pointed != text { try pointed.write(to: manifest, atomically: true, encoding: .utf8) }
    }

    /// Each stream's rows, as a sorted list of their plain columns.
    static func stored(_ harness: SyncHarness, stream: String) async throws -> [String] {
        let rows = try await harness.client.query(
            "SELECT data::text FROM records WHERE connection_id = \(harness.connection) AND stream = \(stream)", logger: harness.logger
        )
        var found: [String] = []
        for try await data in rows.decode(String.self) { found.append(try canonical(JSONDecoder().decode(JSONValue.self, from: Data(data.utf8)))) }
        return found.sorted()
    }

    static func canonical(_ value: JSONValue) -> String {
        var bytes: [UInt8] = []
        value.appendCanonical(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("synced records and states equal the package's own read", arguments: ["greenhouse", "intercom"])
    func syncEqualsOwnRead(name: String) async throws {
        let test = name == "greenhouse" ? Self.greenhouse : Self.intercom
        let box = BaseBox()
        let server = FakeAPIServer { request in test.api(request, box.base) }
        let url = try await TestDatabase.makeMigratedDatabase()
        try await server.withRunning { base in
            box.base = base
            try await TestDatabase.withClient(url) { client in
                let logger = TestDatabase.logger
                let environments = PythonEnvironments(root: GitLabSourceTests.runtimes,
                                                      egress: EgressPolicy(allowed: try EgressPolicy.parseAllowList("127.0.0.1/32")), logger: logger)
                let runtime = try ProcessRuntime(package: test.package, version: test.version)
                let command = try await environments.command(for: runtime)
                try Self.pointAtFake(command: command, module: test.module, host: test.host)

                let vault = try await TestDatabase.vault(for: client)
                let keyring = Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
                let tenant = try await TenantStore(client: client, logger: logger).create(name: "\(name) test").id
                let connector = "\(name)-\(UUID().uuidString.prefix(8).lowercased())"
                let definition = try ConnectorDefinition(name: connector, manifest: "", sidecar: test.sidecar)
                _ = try await ConnectorStore(client: client, logger: logger).register(name: connector, manifest: definition.manifestText, sidecar: definition.sidecarText)
                let service = ConnectionService(client: client, keyring: keyring, catalog: ConnectorCatalog(store: ConnectorStore(client: client, logger: logger)),
                                                processes: environments, logger: logger)
                let created = try await service.create(.init(tenant: tenant, connector: connector, config: test.config(base)))
                var harness = SyncHarness(client: client, keyring: keyring, tenant: tenant, connection: created.id)
                harness.processes = environments
                let runs = try await harness.sync(timeout: .seconds(300), requestTimeout: .seconds(120))
                #expect(!runs.isEmpty && runs.allSatisfy { $0.status == .succeeded }, "\(runs.map { $0.error ?? "" })")

                let source = ProcessSource(process: AirbyteProcess(command: command, limits: .init(runtime), egress: environments.egress, logger: logger))
                var config = PyDict()
                for (key, value) in test.config(base) { config[.string(key)] = PyValue(json: value) }
                let discovered = try await source.discover(config: .dict(config))
                let catalog = ProcessSource.configuredCatalog(from: discovered, streams: test.streams)
                let collected = GitLabSourceTests.Messages()
                try await source.read(config: .dict(config), catalog: catalog, state: nil) { message in collected.append(message) }
                let messages = collected.all
                for stream in test.streams {
                    let expected = messages.compactMap { message -> String? in
                        guard case .record(stream, let data) = message, case .object(var fields) = data.json else { return nil }
                        for field in test.sensitive[stream] ?? [] { fields[field] = nil }
                        return Self.canonical(.object(fields))
                    }.sorted()
                    #expect(!expected.isEmpty, "the package read nothing of \(stream)")
                    #expect(try await Self.stored(harness, stream: stream) == expected, "stream \(stream)")
                }
                for stream in test.comparedStates {
                    let own = messages.compactMap { message -> JSONValue? in
                        if case .state(.stream(name: stream, let state)) = message { state.json } else { nil }
                    }.last
                    let saved = try await harness.syncs.state(connection: harness.connection, stream: stream)
                    #expect(own != nil && saved == own, "stream \(stream): \(String(describing: saved)) vs \(String(describing: own))")
                }
                // Sensitive fields are sealed: in no row's plain columns.
                for (stream, fields) in test.sensitive {
                    for field in fields {
                        #expect(try await harness.count("""
                            SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection) AND stream = \(stream) AND data ? \(field)
                            """) == 0)
                    }
                }
            }
        }
    }

    /// The fake's base URL, known once it listens (its handler builds next-page links from it).
    final class BaseBox: Sendable {
        private let value = Mutex("")
        var base: String {
            get { value.withLock { $0 } }
            set { value.withLock { $0 = newValue } }
        }
    }
}
