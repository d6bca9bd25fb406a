import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// Syncs of a process connector (an Airbyte source run as a process) through the queue into a
/// real PostgreSQL: the fake source of the process runtime's tests stands in for a PyPI one.
@Suite("Process connector syncs")
struct ProcessSyncTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("HubAirbyteProcessTests/Fixtures/fake_source.py").path

    /// Runs the fake source for any runtime, as an installed console script would be run.
    struct FakeSourceCommand: ProcessCommandResolver {
        func command(for runtime: ProcessRuntime) async throws -> [String] { ["/usr/bin/python3", ProcessSyncTests.script] }
    }

    static let sidecar = """
        credentials: [api_key]
        runtime:
          pypi: fake-source==1.0.0
        streams:
          people:
            primary_key: [id]
            cursor_field: updated_at
            sensitive: [name]
        """

    /// Harnesses sharing a database share a keyring: each one's worker may take the other's jobs.
    static func harness(client: PostgresClient, mode: String, keyring shared: Keyring? = nil) async throws -> SyncHarness {
        let logger = TestDatabase.logger
        let vault = try await TestDatabase.vault(for: client)
        let keyring = try shared ?? Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
        let tenant = try await TenantStore(client: client, logger: logger).create(name: "process sync test").id
        let name = "people-\(UUID().uuidString.prefix(8).lowercased())"
        let definition = try ConnectorDefinition(name: name, manifest: "", sidecar: sidecar)
        #expect(definition.streamNames == ["people"] && definition.isIncremental("people"))
        let (version, _) = try await ConnectorStore(client: client, logger: logger)
            .register(name: name, manifest: definition.manifestText, sidecar: definition.sidecarText)
        let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
            tenant: tenant, connector: name, connectorVersion: version, externalAccount: "acct-1",
            config: ["mode": .string(mode)], credentials: Secret(Array(#"{"api_key":"sk_first"}"#.utf8))
        )
        var harness = SyncHarness(client: client, keyring: keyring, tenant: tenant, connection: connection)
        harness.processes = FakeSourceCommand()
        return harness
    }

    /// The external ids the connection's records are stored under, in order.
    static func storedIDs(_ harness: SyncHarness) async throws -> [String] {
        let rows = try await harness.client.query(
            "SELECT external_id FROM records WHERE connection_id = \(harness.connection) ORDER BY external_id", logger: harness.logger
        )
        var ids: [String] = []
        for try await id in rows.decode(String.self) { ids.append(id) }
        return ids
    }

    @Test("a process connector syncs incrementally, sealed, from its state, and writes back the config it rotates")
    func processConnectorSyncs() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await Self.harness(client: client, mode: "ok")
            let first = try await harness.sync()
            #expect(first.map(\.status) == [.succeeded], "\(first.map { $0.error ?? "" })")
            #expect(first.first?.recordsWritten == 3)
            #expect(try await harness.syncs.state(connection: harness.connection, stream: "people") == .object(["updated_at": .number(3)]))
            // The sensitive field is sealed, never in the row in clear.
            #expect(try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)") == 3)
            #expect(try await harness.count("""
                SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)
                  AND (data ? 'name' OR position(convert_to('Person', 'UTF8') in sensitive) > 0)
                """) == 0)
            // The source's CONTROL message rotated the credential: stored, sealed, at once.
            let credentials = try await ConnectionStore(client: client, keyring: harness.keyring, logger: harness.logger)
                .credentials(tenant: harness.tenant, connection: harness.connection)
            #expect(String(decoding: credentials.revealed, as: UTF8.self).contains("sk_rotated"))
            // The same message's base_url is not a credential: a source can't move the connection.
            #expect(try await harness.connections.connection(harness.connection).config.objectValue?["base_url"] == nil)

            // The next sync passes the state: the source resumes after it.
            let second = try await harness.sync()
            #expect(second.map(\.status) == [.succeeded], "\(second.map { $0.error ?? "" })")
            #expect(try await Self.storedIDs(harness) == ["1", "2", "3", "4", "5", "6"])
            #expect(try await harness.syncs.state(connection: harness.connection, stream: "people") == .object(["updated_at": .number(6)]))
        }
    }

    @Test("GLOBAL and LEGACY states are kept per stream and given back in the shape the source wrote", arguments: ["global", "legacy"])
    func globalAndLegacyStates(mode: String) async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await Self.harness(client: client, mode: mode)
            let first = try await harness.sync()
            #expect(first.map(\.status) == [.succeeded], "\(first.map { $0.error ?? "" })")
            let kept = try await harness.syncs.state(connection: harness.connection, stream: "people")
            let expected: JSONValue = mode == "global"
                ? ["airbyte_state_message": ["type": "GLOBAL", "global": [
                    "shared_state": ["lsn": 3],
                    // The other stream's entry is not this stream's to keep.
                    "stream_states": [["stream_descriptor": ["name": "people"], "stream_state": ["updated_at": 3]]],
                ]]]
                : ["airbyte_state_message": ["type": "LEGACY", "data": ["people": ["updated_at": 3]]]]
            #expect(kept == expected)
            // The fake fails a read whose state is not in the shape it wrote.
            let second = try await harness.sync()
            #expect(second.map(\.status) == [.succeeded], "\(second.map { $0.error ?? "" })")
            #expect(try await Self.storedIDs(harness) == ["1", "2", "3", "4", "5", "6"])
        }
    }

    /// (A broken protocol line fails the same way, naming the line: `AirbyteProcessTests`.)
    @Test("a source's own error is the run's error; a stream it left incomplete fails")
    func processConnectorFailures() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let failing = try await Self.harness(client: client, mode: "error")
            let incomplete = try await Self.harness(client: client, mode: "incomplete", keyring: failing.keyring)
            async let failingRuns = failing.sync()
            async let incompleteRuns = incomplete.sync(fullRefresh: true)
            let (runs, partial) = try await (failingRuns, incompleteRuns)
            #expect(runs.map(\.status) == [.failed])
            #expect(runs.first?.error?.contains("The API answered 403 Forbidden for /people") == true, "\(runs.map { $0.error ?? "" })")
            // A stream the source left INCOMPLETE fails even when it exits 0: a full pass would
            // otherwise mark what it did not get to as deleted.
            #expect(partial.map(\.status) == [.failed])
            #expect(partial.first?.error?.contains("did not finish stream people") == true, "\(partial.map { $0.error ?? "" })")
            // The 403 came as a `config_error`: the user's to fix, so tried once. The
            // incomplete stream may be a passing fault, and was tried the five times.
            func attempts(_ harness: SyncHarness) async throws -> Int {
                try await harness.count("""
                    SELECT max(attempt)::int FROM jobs WHERE kind = 'sync.stream' AND state = 'discarded'
                      AND args->>'connection' = \(harness.connection.uuidString.lowercased())
                    """)
            }
            #expect(try await attempts(failing) == 1)
            // At least the five: the two harnesses' workers take each other's jobs, and a worker
            // stopping (each stops once its own sync has ended) hands back the attempt it held,
            // which counts as one more (seen in CI: 6).
            #expect(try await attempts(incomplete) >= 5)
        }
    }

    @Test("a connection's config is checked by the source when it is set, and a failed check stores nothing")
    func sourceChecksTheConfig() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await Self.harness(client: client, mode: "ok")
            let info = try await harness.connections.connection(harness.connection)
            let service = ConnectionService(client: client, keyring: harness.keyring,
                                            catalog: ConnectorCatalog(store: ConnectorStore(client: client, logger: harness.logger)),
                                            processes: FakeSourceCommand(), logger: harness.logger)
            let refused = await #expect(throws: HubError.self) {
                _ = try await service.create(.init(tenant: harness.tenant, connector: info.connector,
                                                   config: ["mode": .string("ok"), "api_key": .string("sk_bad")]))
            }
            #expect(refused?.code == .invalidConfig)
            #expect(refused?.message.hasSuffix("'s check failed: 401 Unauthorized: the api_key is not valid") == true, "\(String(describing: refused))")
            #expect(try await harness.count("SELECT count(*)::int FROM connections WHERE tenant_id = \(harness.tenant.rawValue)") == 1)
            _ = try await service.create(.init(tenant: harness.tenant, connector: info.connector,
                                               config: ["mode": .string("ok"), "api_key": .string("sk_good")]))
            // A stream hub.yaml lists that the source's discover does not have is named.
            let ghostly = Self.sidecar.replacingOccurrences(of: "streams:\n", with: "streams:\n  ghosts: {primary_key: [id]}\n")
            _ = try await ConnectorStore(client: client, logger: harness.logger).register(name: "ghostly", manifest: "", sidecar: ghostly)
            let ghost = await #expect(throws: HubError.self) {
                _ = try await service.create(.init(tenant: harness.tenant, connector: "ghostly",
                                                   config: ["mode": .string("ok"), "api_key": .string("sk_good")]))
            }
            #expect(ghost?.message == "ghostly's hub.yaml syncs ghosts, which the source does not have with this config (it has: people)",
                    "\(String(describing: ghost))")
            // A config change is checked too; the refused one leaves the stored credentials alone.
            let update = await #expect(throws: HubError.self) {
                try await service.update(.init(tenant: harness.tenant, connection: harness.connection,
                                               config: ["mode": .string("ok"), "api_key": .string("sk_bad")]))
            }
            #expect(update?.message.contains("check failed") == true)
            let credentials = try await ConnectionStore(client: client, keyring: harness.keyring, logger: harness.logger)
                .credentials(tenant: harness.tenant, connection: harness.connection)
            #expect(String(decoding: credentials.revealed, as: UTF8.self).contains("sk_first"))
        }
    }

    @Test("a source killed mid-read keeps what its last state covers, and the retry resumes from that state")
    func killedMidReadResumes() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await Self.harness(client: client, mode: "die_midway")
            let runs = try await harness.sync()
            // The first attempt died after records 1-5 and the state after 3; the second read
            // from that state (records 4-6 again, from the fake's normal path) and succeeded.
            #expect(runs.map(\.status) == [.succeeded], "\(runs.map { $0.error ?? "" })")
            #expect(try await Self.storedIDs(harness) == ["1", "2", "3", "4", "5", "6"])
            #expect(try await harness.syncs.state(connection: harness.connection, stream: "people") == .object(["updated_at": .number(6)]))
            let attempts = try await harness.count("SELECT max(attempt)::int FROM jobs WHERE kind = 'sync.stream'")
            #expect(attempts == 2)
        }
    }
}
