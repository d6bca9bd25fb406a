import Foundation
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

/// The operator's path through the real binary: register a connector folder, create a
/// connection with credentials on stdin, sync it with progress.
@Suite("Sync commands")
struct SyncCommandTests {
    @Test("connectors add, connections create (credentials on stdin), sync --local")
    func operatorFlow() async throws {
        let crm = FakeCRM(count: 600)
        let url = try await TestDatabase.makeMigratedDatabase()
        let keyText = LocalKeyEncryptionKey.generateBase64()
        let scratch = try makeScratchDirectory()
        let folder = scratch + "/crm"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FakeCRM.manifest.write(toFile: folder + "/manifest.yaml", atomically: true, encoding: .utf8)
        try FakeCRM.sidecar.write(toFile: folder + "/hub.yaml", atomically: true, encoding: .utf8)
        let environment = ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY": keyText.revealed]

        try await crm.makeServer().withRunning { baseURL in
            let tenant = try await TributaryProcess.run(["tenants", "create", "acme"], environment: environment)
            #expect(tenant.status == 0, "\(tenant.stderr)")
            let tenantID = tenant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            let added = try await TributaryProcess.run(["connectors", "add", folder], environment: environment)
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.contains("registered crm v1"))
            let again = try await TributaryProcess.run(["connectors", "add", folder], environment: environment)
            #expect(again.stdout.contains("already has this content"))

            // A config missing its credential is refused, naming the field.
            let incomplete = try await TributaryProcess.run(
                ["connections", "create", "--tenant", tenantID, "--connector", "crm"], environment: environment,
                standardInput: #"{"base_url": "\#(baseURL)", "start_date": "2023-01-01T00:00:00Z"}"#
            )
            #expect(incomplete.status == 1)
            #expect(incomplete.stderr.contains("config.api_key: is required"), "\(incomplete.stderr)")

            // The CLI and the API create connections through one service, with the same bounds.
            let tooOften = try await TributaryProcess.run(
                ["connections", "create", "--tenant", tenantID, "--connector", "crm", "--schedule-seconds", "5"], environment: environment,
                standardInput: #"{"base_url": "\#(baseURL)", "start_date": "2023-01-01T00:00:00Z", "api_key": "x"}"#
            )
            #expect(tooOften.status == 1)
            #expect(tooOften.stderr.contains("schedule_seconds must be from 60 to 31536000"), "\(tooOften.stderr)")

            let created = try await TributaryProcess.run(
                ["connections", "create", "--tenant", tenantID, "--connector", "crm", "--account", "acct-9"], environment: environment,
                standardInput: #"{"base_url": "\#(baseURL)", "start_date": "2023-01-01T00:00:00Z", "api_key": "\#(crm.token)"}"#
            )
            #expect(created.status == 0, "\(created.stderr)")
            #expect(!created.stdout.contains(crm.token) && !created.stderr.contains(crm.token))
            let connection = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            // The fake CRM is on loopback: refused until an operator allows it, with an error that
            // names the address and the setting.
            let refused = try await TributaryProcess.run(["sync", connection, "--local"], environment: environment, timeout: .seconds(120))
            #expect(refused.status == 1, "\(refused.stdout)\n\(refused.stderr)")
            #expect((refused.stdout + refused.stderr).contains("127.0.0.1, a loopback address"), "\(refused.stdout)\n\(refused.stderr)")
            #expect((refused.stdout + refused.stderr).contains("TRIBUTARY_EGRESS_ALLOW=127.0.0.1/32"), "\(refused.stdout)\n\(refused.stderr)")
            var allowed = environment
            allowed["TRIBUTARY_EGRESS_ALLOW"] = LoopbackEgress.allowList
            let sync = try await TributaryProcess.run(["sync", connection, "--local"], environment: allowed, timeout: .seconds(120))
            #expect(sync.status == 0, "\(sync.stdout)\n\(sync.stderr)")
            #expect(sync.stdout.contains("contacts: succeeded, 600 records"), "\(sync.stdout)")
            #expect(!sync.stdout.contains(crm.token) && !sync.stderr.contains(crm.token))

            try await TestDatabase.withClient(url) { client in
                let rows = try await client.query(
                    """
                    SELECT (SELECT count(*)::int FROM records WHERE connection_id = \(UUID(uuidString: connection)!)),
                           (SELECT count(*)::int FROM connections WHERE config::text LIKE \("%" + crm.token + "%"))
                         + (SELECT count(*)::int FROM connection_credentials WHERE position(convert_to(\(crm.token), 'UTF8') in sealed) > 0)
                    """,
                    logger: TestDatabase.logger
                )
                for try await (records, leaked) in rows.decode((Int, Int).self) {
                    #expect(records == 600)
                    #expect(leaked == 0, "the API key is stored in clear")
                }
            }
        }
    }
}
