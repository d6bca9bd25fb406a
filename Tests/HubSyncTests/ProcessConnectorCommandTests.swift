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

    /// The worked example the repository ships.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("connectors/faker").path

    @Test("connectors read, connectors add, connections create and sync --local run a PyPI source")
    func operatorFlowWithAPyPISource() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let folder = Self.folder
        try #"{"count": 5, "seed": 3, "parallelism": 1, "always_updated": false}"#.write(toFile: scratch + "/config.json", atomically: true, encoding: .utf8)
        let environment = ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY": LocalKeyEncryptionKey.generateBase64().revealed,
                           "TRIBUTARY_CONNECTOR_RUNTIMES_DIR": Self.runtimes]

        let read = try await TributaryProcess.run(["connectors", "read", folder, "--config", scratch + "/config.json", "--streams", "users"],
                                                  environment: environment, timeout: .seconds(300))
        #expect(read.status == 0, "\(read.stderr)")
        #expect(read.stdout.split(separator: "\n").filter { $0.contains(#""type":"RECORD""#) }.count == 5, "\(read.stdout)")

        let added = try await TributaryProcess.run(["connectors", "add", folder], environment: environment, timeout: .seconds(300))
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("registered faker v1 (3 streams)"), "\(added.stdout)")
        let tenant = try await TributaryProcess.run(["tenants", "create", "acme"], environment: environment)
        let tenantID = tenant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The spec stored at registration checks the config: count must be an integer.
        let invalid = try await TributaryProcess.run(["connections", "create", "--tenant", tenantID, "--connector", "faker"],
                                                     environment: environment, standardInput: #"{"count": "many"}"#)
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("config.count"), "\(invalid.stderr)")
        let created = try await TributaryProcess.run(["connections", "create", "--tenant", tenantID, "--connector", "faker"],
                                                     environment: environment, standardInput: #"{"count": 5, "seed": 3, "parallelism": 1, "always_updated": false}"#)
        #expect(created.status == 0, "\(created.stderr)")
        let connection = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let connectionID = try #require(UUID(uuidString: connection), "\(created.stdout)")

        let sync = try await TributaryProcess.run(["sync", connection, "--local"], environment: environment, timeout: .seconds(300))
        #expect(sync.status == 0, "\(sync.stdout)\n\(sync.stderr)")
        #expect(sync.stdout.contains("users: succeeded, 5 records"), "\(sync.stdout)")
        // What we stored is what the source itself prints for the same seed (updated_at is the
        // source's clock, so it is left out).
        let catalog = #"{"streams": [{"stream": {"name": "users", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}"#
        try catalog.write(toFile: scratch + "/catalog.json", atomically: true, encoding: .utf8)
        let own = Process()
        own.executableURL = URL(fileURLWithPath: Self.runtimes + "/airbyte-source-faker==7.2.1/bin/source-faker")
        own.arguments = ["read", "--config", scratch + "/config.json", "--catalog", scratch + "/catalog.json"]
        let pipe = Pipe()
        own.standardOutput = pipe
        try own.run()
        let printed = pipe.fileHandleForReading.readDataToEndOfFile()
        own.waitUntilExit()
        var expected = Set<String>()
        for line in String(decoding: printed, as: UTF8.self).split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], object["type"] as? String == "RECORD",
                  let record = object["record"] as? [String: Any], let data = record["data"] as? [String: Any] else { continue }
            expected.insert("\(data["id"] ?? "")|\(data["name"] ?? "")|\(data["age"] ?? "")|\(data["occupation"] ?? "")")
        }
        #expect(expected.count == 5)
        try await TestDatabase.withClient(url) { client in
            let stored = try await client.query(
                """
                SELECT data->>'id', data->>'name', data->>'age', data->>'occupation' FROM records
                 WHERE connection_id = \(connectionID) AND stream = 'users'
                """,
                logger: TestDatabase.logger
            )
            var found = Set<String>()
            for try await (id, name, age, occupation) in stored.decode((String, String, String, String).self) {
                found.insert("\(id)|\(name)|\(age)|\(occupation)")
            }
            #expect(found == expected)
        }
        // The next sync resumes from the state the source saved: nothing new to read.
        let again = try await TributaryProcess.run(["sync", connection, "--local"], environment: environment, timeout: .seconds(300))
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(again.stdout.contains("users: succeeded, 0 records"), "\(again.stdout)\n\(again.stderr)")
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
