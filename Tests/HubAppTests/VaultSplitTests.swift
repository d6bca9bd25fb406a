import Foundation
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

/// `tributary migrate --split-vault`: a one-database install's keys, credentials and audit
/// log move to the vault database, checked row by row, and a stopped split finishes on rerun.
@Suite("Splitting the vault out of a one-database install")
struct VaultSplitTests {
    let logger = TestDatabase.logger

    @Test func aOneDatabaseInstallIsSplitAndEverySecretStillOpens() async throws {
        let mainURL = try await TestDatabase.makeMigratedDatabase()
        let vaultURL = try await TestDatabase.makeEmptyDatabase()
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keyFile = root + "/master.key"
        let kek = try MasterKeyFile.write(keyFile)
        // Three tenants as the current version stores them: rotated keys, credentials, audit entries.
        var stores: [StoreFixture] = []
        try await TestDatabase.withClient(mainURL) { client in
            for index in 0..<3 {
                let store = try await StoreFixture.make(client: client, kek: kek, credentials: #"{"api_key":"sk_split_\#(index)"}"#)
                try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts",
                                              records: (1...15).map { TestKeys.contact($0) }, policy: TestKeys.contactPolicy)
                _ = try await store.keyring.rotate(store.tenant)
                _ = try await store.reader.record(tenant: store.tenant, key: store.key("2"), revealTo: .commandLine(user: "before-split"))
                stores.append(store)
            }
        }
        let before = try await counts(mainURL)
        #expect(before == ["audit_log": 3, "connection_credentials": 3, "data_keys": 9, "vault_tenants": 3])
        var environment = ["TRIBUTARY_DATABASE_URL": mainURL.revealedString, "TRIBUTARY_VAULT_DATABASE_URL": vaultURL.revealedString,
                           "TRIBUTARY_MASTER_KEY_FILE": keyFile]

        // Without --split-vault the secrets would vanish from the processes' view: refused.
        let refused = try await TributaryProcess.run(["migrate"], environment: environment)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--split-vault") && refused.stderr.contains("9 rows in data_keys"), "\(refused.stderr)")
        #expect(try await counts(mainURL) == before)

        // With another master key the check of the first key fails, and nothing leaves main.
        let wrongKeyFile = root + "/wrong.key"
        _ = try MasterKeyFile.write(wrongKeyFile)
        environment["TRIBUTARY_MASTER_KEY_FILE"] = wrongKeyFile
        let wrong = try await TributaryProcess.run(["migrate", "--split-vault"], environment: environment)
        #expect(wrong.status != 0, "\(wrong.stdout)")
        #expect(try await counts(mainURL) == before, "the main side is one transaction: a failed check rolls it all back")
        environment["TRIBUTARY_MASTER_KEY_FILE"] = keyFile

        // A split killed half-way leaves rows copied but not yet deleted, and rows moved.
        try await TestDatabase.withClient(mainURL) { main in
            try await TestDatabase.withClient(vaultURL) { vault in
                for (table, key, limit, delete) in [("data_keys", "tenant_id, purpose, version", 4, false),
                                                    ("connection_credentials", "connection_id", 1, true)] {
                    var rows: [String] = []
                    let read = try await main.query(PostgresQuery(unsafeSQL: "SELECT row_to_json(t)::text FROM \(table) t ORDER BY \(key) LIMIT \(limit)"), logger: logger)
                    for try await row in read.decode(String.self) { rows.append(row) }
                    // (The wrong-key run above already left copies of the keys: those stay as they are.)
                    var copy = PostgresQuery(unsafeSQL: "INSERT INTO \(table) SELECT * FROM json_populate_recordset(NULL::\(table), $1::json) ON CONFLICT DO NOTHING")
                    copy.binds.append("[" + rows.joined(separator: ",") + "]")
                    try await vault.query(copy, logger: logger)
                    if delete {
                        var remove = PostgresQuery(unsafeSQL: "DELETE FROM \(table) t USING json_populate_recordset(NULL::\(table), $1::json) b WHERE t.connection_id = b.connection_id")
                        remove.binds.append("[" + rows.joined(separator: ",") + "]")
                        try await main.query(remove, logger: logger)
                    }
                }
            }
        }

        let split = try await TributaryProcess.run(["migrate", "--split-vault"], environment: environment)
        #expect(split.status == 0, "\(split.stderr)")
        #expect(split.stdout.contains("vault: data_keys: 9 moved, 0 left"), "\(split.stdout)")
        #expect(split.stdout.contains("vault: connection_credentials: 2 moved, 0 left"), "\(split.stdout)")
        #expect(try await counts(mainURL).isEmpty, "the main database's copies are dropped")
        #expect(try await counts(vaultURL) == before)

        // Every secret opens from the vault, and reading in clear is audited there.
        try await TestDatabase.withClient(mainURL) { main in
            try await TestDatabase.withClient(vaultURL) { vault in
                let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: main, vault: vault, logger: logger))
                for (index, store) in stores.enumerated() {
                    let credentials = try await ConnectionStore(client: main, keyring: keyring, logger: logger)
                        .credentials(tenant: store.tenant, connection: store.connection)
                    #expect(String(decoding: credentials.revealed, as: UTF8.self) == #"{"api_key":"sk_split_\#(index)"}"#)
                    let record = try await RecordReader(client: main, keyring: keyring, logger: logger)
                        .record(tenant: store.tenant, key: store.key("9"), revealTo: .commandLine(user: "after-split"))
                    #expect(record.sensitive?.revealed["email"] == "contact9@example.com")
                }
            }
        }
        #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM audit_log WHERE actor = 'cli:after-split'") == 3)
        // The audit log's ids go on after the moved ones.
        #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(DISTINCT id)::int FROM audit_log") == 6)

        // A process without the vault configured now refuses, naming the setting.
        let alone = try await TributaryProcess.run(["keys", "status"], environment: ["TRIBUTARY_DATABASE_URL": mainURL.revealedString,
                                                                                    "TRIBUTARY_MASTER_KEY_FILE": keyFile])
        #expect(alone.status != 0 && alone.stderr.contains("TRIBUTARY_VAULT_DATABASE_URL"), "\(alone.stderr)")
        // The queue's commands touch no secret: they run without the vault, as the scheduler does.
        let queues = try await TributaryProcess.run(["queues", "list"], environment: ["TRIBUTARY_DATABASE_URL": mainURL.revealedString])
        #expect(queues.status == 0, "\(queues.stderr)")
        let status = try await TributaryProcess.run(["keys", "status"], environment: environment)
        #expect(status.status == 0, "\(status.stderr)")
        // A rerun has nothing to move.
        let again = try await TributaryProcess.run(["migrate", "--split-vault"], environment: environment)
        #expect(again.status == 0 && !again.stdout.contains("moved"), "\(again.stdout)\(again.stderr)")
    }

    /// Rows of each vault table in `url`; a table that doesn't exist is left out.
    func counts(_ url: DatabaseURL) async throws -> [String: Int] {
        try await TestDatabase.withClient(url) { client in try await VaultSplit.originals(in: client, logger: logger) }
    }
}
