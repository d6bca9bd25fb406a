import Foundation
import HubCore
import HubCrypto
import HubDatabase
import PostgresNIO
import Testing
import TributaryTestSupport

/// The operator's path through the real binary with a real Airbyte source from PyPI
/// (airbyte-source-faker, pinned): read it without a database, register it (the source's spec
/// is asked once), create a connection, sync it.
@Suite("Process connector commands")
struct ProcessConnectorCommandTests {
    /// Shared with `PyPISourceTests`: the first suite to need faker installs it (about 40 s),
    /// the others wait on the install lock and reuse it.
    static let runtimes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".test-runtimes").path

    static let sidecar = """
        runtime:
          pypi: airbyte-source-faker==7.2.1
          timeout: PT10M
        streams:
          users:
            primary_key: [id]
            cursor_field: updated_at
            sensitive: [email, address]
            blind_index:
              email: lowercase_trim
        """

    @Test("connectors read, connectors add, connections create and sync --local run a PyPI source")
    func operatorFlowWithAPyPISource() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let folder = scratch + "/faker"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Self.sidecar.write(toFile: folder + "/hub.yaml", atomically: true, encoding: .utf8)
        try #"{"count": 5, "seed": 3}"#.write(toFile: scratch + "/config.json", atomically: true, encoding: .utf8)
        let environment = ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY": LocalKeyEncryptionKey.generateBase64().revealed,
                           "TRIBUTARY_CONNECTOR_RUNTIMES_DIR": Self.runtimes]

        let read = try await TributaryProcess.run(["connectors", "read", folder, "--config", scratch + "/config.json", "--streams", "users"],
                                                  environment: environment, timeout: .seconds(300))
        #expect(read.status == 0, "\(read.stderr)")
        #expect(read.stdout.split(separator: "\n").filter { $0.contains(#""type":"RECORD""#) }.count == 5, "\(read.stdout)")

        let added = try await TributaryProcess.run(["connectors", "add", folder], environment: environment, timeout: .seconds(300))
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("registered faker v1 (1 streams)"), "\(added.stdout)")
        let tenant = try await TributaryProcess.run(["tenants", "create", "acme"], environment: environment)
        let tenantID = tenant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The spec stored at registration checks the config: count must be an integer.
        let invalid = try await TributaryProcess.run(["connections", "create", "--tenant", tenantID, "--connector", "faker"],
                                                     environment: environment, standardInput: #"{"count": "many"}"#)
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("config.count"), "\(invalid.stderr)")
        let created = try await TributaryProcess.run(["connections", "create", "--tenant", tenantID, "--connector", "faker"],
                                                     environment: environment, standardInput: #"{"count": 5, "seed": 3}"#)
        #expect(created.status == 0, "\(created.stderr)")
        let connection = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let connectionID = try #require(UUID(uuidString: connection), "\(created.stdout)")

        let sync = try await TributaryProcess.run(["sync", connection, "--local"], environment: environment, timeout: .seconds(300))
        #expect(sync.status == 0, "\(sync.stdout)\n\(sync.stderr)")
        #expect(sync.stdout.contains("users: succeeded, 5 records"), "\(sync.stdout)")
        try await TestDatabase.withClient(url) { client in
            let rows = try await client.query(
                """
                SELECT count(*)::int, count(*) FILTER (WHERE data ? 'email' OR sensitive IS NULL)::int
                  FROM records WHERE connection_id = \(connectionID) AND stream = 'users'
                """,
                logger: TestDatabase.logger
            )
            for try await (records, clear) in rows.decode((Int, Int).self) {
                #expect(records == 5)
                #expect(clear == 0, "a sensitive field is stored in clear")
            }
        }
    }
}
