import Foundation
import HubCore
import HubDatabase
import HubCrypto
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

@Suite("A database dump holds no secret")
struct PlaintextScanTests {
    /// pg_dump from the same installation the embedded server uses.
    func pgDump() -> String? {
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin/pg_dump" }
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/pg_dump" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func markersInSensitiveFieldsAndCredentialsNeverAppearInPgDump() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let marker = "MRK\(UUID().uuidString.prefix(8))"
        try await TestDatabase.withClient(url) { client in
            let store = try await StoreFixture.make(
                client: client, kek: try TestKeys.kek(), credentials: "{\"api_key\":\"\(marker)-CREDENTIAL\"}"
            )
            let records = (1...50).map { id in
                RecordWriter.Input(
                    externalID: "\(id)",
                    fields: [
                        "id": .string("\(id)"), "visible": .string("\(marker)-PLAIN-\(id)"),
                        "email": .string("\(marker)-email-\(id)@example.com"), "phone": .string("+1 555 \(id) \(marker)-PHONE"),
                    ]
                )
            }
            try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: records, policy: TestKeys.contactPolicy)
            _ = try await store.reader.record(tenant: store.tenant, key: store.key("1"), revealTo: .commandLine(user: "scan"))
        }
        let dumpPath = try #require(pgDump(), "pg_dump not found next to the PostgreSQL server")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: dumpPath)
        process.arguments = ["--no-owner", "--data-only", "-h", url.host, "-p", "\(url.port)", "-U", url.username, url.database]
        process.environment = ["PGPASSWORD": url.password?.revealed ?? "", "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let dump = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaints = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "pg_dump failed: \(complaints)")
        // The dump is real and complete: the non-sensitive field is there in clear.
        #expect(dump.contains("\(marker)-PLAIN-50"))
        #expect(!dump.contains("\(marker)-email"), "an email reached the database in clear")
        #expect(!dump.contains("\(marker)-PHONE"), "a phone number reached the database in clear")
        #expect(!dump.contains("\(marker)-CREDENTIAL"), "a credential reached the database in clear")
    }
}
