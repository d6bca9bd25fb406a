import Foundation
import HubCore
import HubCrypto
import HubDatabase
import HubKMS
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

@Suite("Key commands as processes")
struct KeysCommandTests {
    let logger = TestDatabase.logger

    @Test func keysInitWritesAPrivateFileAndNeverPrintsTheKey() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/master.key"
        let first = try await TributaryProcess.run(["keys", "init", "--file", path])
        #expect(first.status == 0, "\(first.stderr)")
        let key = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Data(base64Encoded: key)?.count == 32)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(!(first.stdout + first.stderr).contains(key))
        #expect(first.stdout.contains(try LocalKeyEncryptionKey(contentsOfFile: path).keyID))

        let again = try await TributaryProcess.run(["keys", "init", "--file", path])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds a key"))
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains(key), "the existing key must survive")
    }

    /// The documented zero-downtime KEK rotation, as an operator runs it.
    @Test func kekRotationWithThePreviousKeyConfigured() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let oldFile = root + "/master.key", newFile = root + "/master-2.key"
        let oldKEK = try MasterKeyFile.write(oldFile)
        let (tenant, connection) = try await TestDatabase.withClient(url) { client in
            let store = try await StoreFixture.make(client: client, kek: oldKEK)
            try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: [TestKeys.contact(1)], policy: TestKeys.contactPolicy)
            return (store.tenant, store.connection)
        }
        let newKEK = try MasterKeyFile.write(newFile)
        let base = ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY_FILE": newFile]
        var rotating = base
        rotating["TRIBUTARY_PREVIOUS_MASTER_KEY_FILES"] = oldFile
        let rewrap = try await TributaryProcess.run(["keys", "rewrap"], environment: rotating)
        #expect(rewrap.status == 0, "\(rewrap.stderr)")
        #expect(rewrap.stdout.contains("rewrapped 2 keys under key-encryption key \(newKEK.keyID)"), "\(rewrap.stdout)")
        let again = try await TributaryProcess.run(["keys", "rewrap"], environment: rotating)
        #expect(again.stdout.contains("rewrapped 0 keys"), "\(again.stdout)")
        // Rewrapped: the new key alone opens everything.
        try await TestDatabase.withClient(url) { client in
            let reader = RecordReader(client: client, keyring: Keyring(kek: newKEK, repository: PostgresDataKeyRepository(client: client, logger: logger)), logger: logger)
            let record = try await reader.record(tenant: tenant, key: RecordKey(connection: connection, stream: "contacts", externalID: "1"), revealTo: .commandLine(user: "t"))
            #expect(record.sensitive?.revealed["email"] == .string("contact1@example.com"))
        }
    }

    /// Moving from a local KEK to AWS KMS (moto, with request signing enforced): the file is
    /// configured as the previous key, `keys rewrap` moves every key, and then KMS alone opens
    /// the data, new tenants' keys included; no output carries the key or the AWS secret.
    @Test func rewrapMovesKeysFromAFileToKMS() async throws {
        try await FakeKMS.with { fake in
            let url = try await TestDatabase.makeMigratedDatabase()
            let root = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let oldFile = root + "/master.key"
            let fileKEK = try MasterKeyFile.write(oldFile)
            let (tenant, connection) = try await TestDatabase.withClient(url) { client in
                let store = try await StoreFixture.make(client: client, kek: fileKEK)
                try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: [TestKeys.contact(1)], policy: TestKeys.contactPolicy)
                return (store.tenant, store.connection)
            }
            var environment = fake.environment()
            environment["TRIBUTARY_DATABASE_URL"] = url.revealedString
            // Both a local key and KMS is a mistake, named before anything is touched.
            var both = environment
            both["TRIBUTARY_MASTER_KEY_FILE"] = oldFile
            let refused = try await TributaryProcess.run(["keys", "rewrap"], environment: both)
            #expect(refused.status == 2 && refused.stderr.contains("TRIBUTARY_KMS_KEY_ID"), "\(refused.stderr)")

            environment["TRIBUTARY_PREVIOUS_MASTER_KEY_FILES"] = oldFile
            let rewrap = try await TributaryProcess.run(["keys", "rewrap"], environment: environment)
            #expect(rewrap.status == 0, "\(rewrap.stderr)")
            #expect(rewrap.stdout.contains("rewrapped 2 keys under key-encryption key aws-kms:\(fake.region):\(fake.alias)"), "\(rewrap.stdout)")
            let output = rewrap.stdout + rewrap.stderr
            let fileKey = try String(contentsOfFile: oldFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!output.contains(fake.secretAccessKey) && !output.contains(fileKey))
            let again = try await TributaryProcess.run(["keys", "rewrap"], environment: environment)
            #expect(again.stdout.contains("rewrapped 0 keys"), "\(again.stdout)")

            let credentials = try AWSCredentialProvider.fromEnvironment(fake.environment(), region: fake.region)
            let kms = try AWSKMSKeyEncryptionKey(client: AWSKMSClient(region: fake.region, endpoint: fake.endpoint, credentials: credentials), keyReference: fake.alias)
            try await TestDatabase.withClient(url) { client in
                // No key is left under the file's KEK, and KMS alone opens the data.
                let leftover = try await client.query("SELECT count(*)::int FROM data_keys WHERE kek_id <> \(kms.keyID)", logger: logger)
                for try await count in leftover.decode(Int.self) { #expect(count == 0) }
                let keyring = Keyring(kek: kms, repository: PostgresDataKeyRepository(client: client, logger: logger))
                let reader = RecordReader(client: client, keyring: keyring, logger: logger)
                let record = try await reader.record(tenant: tenant, key: RecordKey(connection: connection, stream: "contacts", externalID: "1"), revealTo: .commandLine(user: "t"))
                #expect(record.sensitive?.revealed["email"] == .string("contact1@example.com"))
                // A new tenant's keys are made by KMS directly.
                let store = try await StoreFixture.make(client: client, kek: kms)
                try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: [TestKeys.contact(2)], policy: TestKeys.contactPolicy)
                let fresh = try await RecordReader(client: client, keyring: store.keyring, logger: logger)
                    .record(tenant: store.tenant, key: RecordKey(connection: store.connection, stream: "contacts", externalID: "2"), revealTo: .commandLine(user: "t"))
                #expect(fresh.sensitive?.revealed["email"] == .string("contact2@example.com"))
            }
        }
    }

    @Test func reencryptionKilledMidwayResumesWithoutLoss() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keyFile = root + "/master.key"
        let kek = try MasterKeyFile.write(keyFile)
        let (tenant, connection) = try await TestDatabase.withClient(url) { client in
            let store = try await StoreFixture.make(client: client, kek: kek)
            let records = (1...5000).map { TestKeys.contact($0) }
            try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: records, policy: TestKeys.contactPolicy)
            _ = try await store.keyring.rotate(store.tenant)
            return (store.tenant, store.connection)
        }
        let environment = ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY_FILE": keyFile]
        let first = try TributaryProcess(["keys", "reencrypt", "--tenant", tenant.description, "--batch-size", "1"], environment: environment)
        // Wait for real progress, then kill it without warning.
        let deadline = ContinuousClock.now + .seconds(60)
        while movedSoFar(first.standardOutput) == 0, ContinuousClock.now < deadline, first.process.isRunning {
            try await Task.sleep(for: .milliseconds(20))
        }
        first.signal(SIGKILL)
        _ = await first.waitForExit(timeout: .seconds(5))
        let remaining = try await TestDatabase.withClient(url) { client in
            try await KeyAdministration(client: client, keyring: Keyring(kek: kek, repository: PostgresDataKeyRepository(client: client, logger: logger)), logger: logger)
                .countBelow(tenant: tenant, version: 2)
        }
        try #require(remaining > 0 && remaining < 5001, "the kill must land mid-run (remaining \(remaining)); output: \(first.standardOutput)")

        let second = try await TributaryProcess.run(["keys", "reencrypt", "--tenant", tenant.description], environment: environment)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("\(remaining) remaining"))
        try await TestDatabase.withClient(url) { client in
            let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: client, logger: logger))
            let admin = KeyAdministration(client: client, keyring: keyring, logger: logger)
            let below = try await admin.countBelow(tenant: tenant, version: 2)
            #expect(below == 0)
            let status = try await admin.status(tenant: tenant).filter { $0.purpose == .data }
            #expect(status.map(\.records) == [0, 5000], "no record lost or duplicated")
            let reader = RecordReader(client: client, keyring: keyring, logger: logger)
            for id in stride(from: 1, through: 5000, by: 97) {
                let record = try await reader.record(tenant: tenant, key: RecordKey(connection: connection, stream: "contacts", externalID: "\(id)"), revealTo: .commandLine(user: "t"))
                #expect(record.sensitive?.revealed["email"] == .string("contact\(id)@example.com"))
            }
        }
        let early = try await TributaryProcess.run(["keys", "retire", "--below", "2", "--tenant", tenant.description], environment: environment)
        #expect(early.status == 1, "\(early.stdout)")
        #expect(early.stderr.contains("retire in"), "\(early.stderr)")
        try await TestDatabase.withClient(url) { client in
            // The settle time passes: the rotation's timestamp moves back past it.
            _ = try await client.query("UPDATE data_keys SET created_at = created_at - interval '3 minutes' WHERE tenant_id = \(tenant.rawValue)",
                                   logger: logger)
        }
        let retire = try await TributaryProcess.run(["keys", "retire", "--below", "2", "--tenant", tenant.description], environment: environment)
        #expect(retire.status == 0, "\(retire.stderr)")
        #expect(retire.stdout.contains("retired v1"))
    }
}

/// The largest "N moved" a progress line reports.
func movedSoFar(_ output: String) -> Int {
    output.split(separator: "\n").compactMap { line -> Int? in
        guard let range = line.range(of: " moved to v") else { return nil }
        return Int(line[..<range.lowerBound].split(separator: " ").last ?? "")
    }.max() ?? 0
}

/// Writes a key file the way `keys init` does, for tests that prepare data in-process.
enum MasterKeyFile {
    static func write(_ path: String) throws -> LocalKeyEncryptionKey {
        let encoded = LocalKeyEncryptionKey.generateBase64()
        _ = FileManager.default.createFile(atPath: path, contents: Data(encoded.revealed.utf8), attributes: [.posixPermissions: 0o600])
        return try LocalKeyEncryptionKey(contentsOfFile: path)
    }
}
