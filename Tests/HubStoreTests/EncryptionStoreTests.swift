import Foundation
import HubCore
import HubCrypto
@testable import HubStore
import PostgresNIO
import Synchronization
import Testing
import TributaryTestSupport

@Suite("Encryption at the store's column boundary")
struct EncryptionStoreTests {
    let logger = TestDatabase.logger

    @Test(arguments: [false, true]) func thePostgresRepositoryKeepsTheContract(split: Bool) async throws {
        try await withStores(split: split) { client, vault in
            let tenant = try await TenantStore(client: client, logger: logger).create(name: "contract")
            let failures = try await DataKeyRepositoryContract.check(
                PostgresDataKeyRepository(client: client, vault: vault, logger: logger), tenant: tenant.id
            )
            #expect(failures.isEmpty, "\(failures)")
        }
    }

    /// Runs `body` with the main database and the vault: one database for both, or two
    /// databases, each with its own role (docs/vault.md).
    func withStores(split: Bool, _ body: (_ client: PostgresClient, _ vault: PostgresClient) async throws -> Void) async throws {
        try await TestDatabase.withStores(split: split, body)
    }

    @Test(arguments: [false, true]) func rotationReencryptionAndRetirement(split: Bool) async throws {
        try await withStores(split: split) { client, vault in
            let store = try await StoreFixture.make(client: client, vault: vault, kek: try TestKeys.kek())
            let policy = TestKeys.contactPolicy
            // Records written under versions 1, 2 and 3; a webhook payload in the inbox under version 1.
            let inbox = WebhookInbox(client: client, keyring: store.keyring, logger: store.logger)
            var eventID: Int64?
            for version in 1...3 {
                if version > 1 { #expect(try await store.keyring.rotate(store.tenant) == version) }
                let batch = (version * 100..<(version * 100 + 20)).map { TestKeys.contact($0) }
                #expect(try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: batch, policy: policy) == 20)
                if version == 1 {
                    let sealed = try await inbox.seal(tenant: store.tenant, connection: store.connection, eventID: "evt_1", eventType: "contact.updated",
                                                      verifiedBy: "github", body: Array(#"{"id":"evt_1"}"#.utf8), signed: Array(#"{"id":"evt_1"}"#.utf8))
                    eventID = try await client.withConnection { try await inbox.insert(sealed, on: $0) }
                }
            }
            let before = try await store.keys.status(tenant: store.tenant).filter { $0.purpose == .data }
            #expect(before.map(\.records) == [20, 20, 20])
            #expect(before.map(\.connections) == [1, 0, 0])

            let blocked = await #expect(throws: HubError.self) { try await store.keys.retire(tenant: store.tenant, below: 3) }
            #expect(blocked?.code == .keyRetirementBlocked)
            #expect(blocked?.message.contains("42 rows") == true)

            for id in [100, 200, 300] {
                let record = try await store.reader.record(tenant: store.tenant, key: store.key("\(id)"), revealTo: .commandLine(user: "test"))
                #expect(record.sensitive?.revealed["email"] == .string("contact\(id)@example.com"))
            }

            let progress = ProgressLog()
            let moved = try await store.keys.reencrypt(tenant: store.tenant, batchSize: 7) { progress.append($0.remaining) }
            #expect(moved == 42)
            #expect(progress.values.first == 42)
            #expect(progress.values.last == 0)
            #expect(progress.values == progress.values.sorted(by: >), "remaining must only go down")
            let after = try await store.keys.status(tenant: store.tenant).filter { $0.purpose == .data }
            #expect(after.map(\.records) == [0, 0, 60])
            #expect(after.map(\.connections) == [0, 0, 1])

            // Version 3 is seconds old: another process may still be sealing under v1 or v2.
            let early = await #expect(throws: HubError.self) { try await store.keys.retire(tenant: store.tenant, below: 3) }
            #expect(early?.code == .keyRetirementBlocked)
            #expect(early?.message.contains("other processes may still seal with older versions") == true, "\(String(describing: early))")
            #expect(try await store.keys.status(tenant: store.tenant).filter { $0.purpose == .data }.map(\.state) == [.active, .active, .active])
            // Time passes (the rotation's timestamp moves back past the settle time).
            _ = try await vault.query("UPDATE data_keys SET created_at = created_at - interval '3 minutes' WHERE tenant_id = \(store.tenant.rawValue)",
                                  logger: store.logger)
            #expect(try await store.keys.retire(tenant: store.tenant, below: 3) == [1, 2])
            await #expect(throws: HubError.self) { try await store.keyring.decryptionKey(for: store.tenant, version: 1) }
            for id in Array(100..<120) + Array(200..<220) + Array(300..<320) {
                let record = try await store.reader.record(tenant: store.tenant, key: store.key("\(id)"), revealTo: .commandLine(user: "test"))
                #expect(record.keyVersion == 3)
                #expect(record.sensitive?.revealed["phone"] == .string("+1 555 01\(id)"))
            }
            let credentials = try await store.connections.credentials(tenant: store.tenant, connection: store.connection)
            #expect(String(decoding: credentials.revealed, as: UTF8.self) == "{\"api_key\":\"sk_test\"}")
            let event = try await inbox.event(try #require(eventID))
            #expect(String(decoding: event.payload.revealed, as: UTF8.self) == #"{"id":"evt_1"}"#)
        }
    }

    @Test func unchangedRecordsAreNotRewritten() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let store = try await StoreFixture.make(client: client, kek: try TestKeys.kek())
            let records = (1...5).map { TestKeys.contact($0) }
            let writeAll = { try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: records, policy: TestKeys.contactPolicy) }
            #expect(try await writeAll() == 5)
            let sequence = try await store.reader.record(tenant: store.tenant, key: store.key("3")).changeSequence
            #expect(try await writeAll() == 0, "identical records must not be rewritten")
            let changed = [TestKeys.contact(3, phone: "+44 20 7946 0000")]
            #expect(try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: changed, policy: TestKeys.contactPolicy) == 1)
            let later = try await store.reader.record(tenant: store.tenant, key: store.key("3")).changeSequence
            #expect(later > sequence)
        }
    }

    @Test func blindIndexLookupFindsNormalizedValuesWithinTheTenantOnly() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let kek = try TestKeys.kek()
            let mine = try await StoreFixture.make(client: client, kek: kek)
            let theirs = try await StoreFixture.make(client: client, kek: kek)
            for store in [mine, theirs] {
                try await store.writer.upsert(
                    tenant: store.tenant, connection: store.connection, stream: "contacts",
                    records: [TestKeys.contact(1, email: "Ann@Example.com", phone: "+1 (555) 010-9999"), TestKeys.contact(2)],
                    policy: TestKeys.contactPolicy
                )
            }
            let email = TestKeys.contactPolicy.blindIndexes[0]
            let phone = TestKeys.contactPolicy.blindIndexes[1]
            #expect(try await mine.reader.find(tenant: mine.tenant, field: email, value: "  ann@EXAMPLE.com ") == [mine.key("1")])
            #expect(try await mine.reader.find(tenant: mine.tenant, field: phone, value: "15550109999") == [mine.key("1")])
            #expect(try await mine.reader.find(tenant: mine.tenant, field: email, value: "nobody@example.com").isEmpty)
            #expect(try await theirs.reader.find(tenant: theirs.tenant, field: email, value: "ann@example.com") == [theirs.key("1")])
            // The email itself never reaches the database in clear, nor does the phone.
            let plain = try await rawText(client, "SELECT data::text FROM records")
            #expect(!plain.lowercased().contains("ann@example.com"))
            #expect(!plain.contains("555"))
            // Ciphertexts as hex against the values' hex: random bytes can't fake a 15-byte match.
            let sealed = try await rawText(client, "SELECT coalesce(string_agg(encode(sensitive, 'hex'), ','), '') FROM records")
            for value in ["Ann@Example.com", "(555) 010-9999"] {
                #expect(!sealed.contains(Array(value.utf8).map { String(format: "%02x", $0) }.joined()))
            }
        }
    }

    @Test(arguments: [false, true]) func revealingIsAuditedAndWithoutRevealNothingIsDecrypted(split: Bool) async throws {
        try await withStores(split: split) { client, vault in
            let store = try await StoreFixture.make(client: client, vault: vault, kek: try TestKeys.kek())
            try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: [TestKeys.contact(7)], policy: TestKeys.contactPolicy)
            let masked = try await store.reader.record(tenant: store.tenant, key: store.key("7"))
            #expect(masked.sensitive == nil)
            #expect(masked.data["email"] == nil)
            #expect(masked.data["name"] == "Contact 7")
            let audit = AuditLog(client: vault, logger: logger)
            #expect(try await audit.entries(tenant: store.tenant).isEmpty)

            let keyID = UUID()
            _ = try await store.reader.record(tenant: store.tenant, key: store.key("7"), revealTo: .apiKey(keyID, requestID: "req-1"))
            let entries = try await audit.entries(tenant: store.tenant)
            #expect(entries.count == 1)
            #expect(entries.first?.actor == "api_key:\(keyID.uuidString.lowercased())")
            #expect(entries.first?.record == store.key("7"))
            #expect(entries.first?.fields == ["email", "phone"])
            #expect(entries.first?.requestID == "req-1")
        }
    }

    @Test func aCiphertextCopiedToAnotherRowFailsToDecrypt() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let store = try await StoreFixture.make(client: client, kek: try TestKeys.kek())
            try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: [TestKeys.contact(1), TestKeys.contact(2)], policy: TestKeys.contactPolicy)
            // Someone with write access swaps record 1's ciphertext into record 2.
            try await client.query(
                """
                UPDATE records SET sensitive = (SELECT sensitive FROM records WHERE external_id = '1')
                WHERE external_id = '2' AND connection_id = \(store.connection)
                """,
                logger: logger
            )
            let error = await #expect(throws: HubError.self) {
                try await store.reader.record(tenant: store.tenant, key: store.key("2"), revealTo: .commandLine(user: "t"))
            }
            #expect(error?.code == .decryptionFailed)
            #expect(error?.message.contains("contact1@example.com") == false)
        }
    }

    @Test(arguments: [false, true]) func shreddingLeavesNothingDecryptable(split: Bool) async throws {
        try await withStores(split: split) { client, vault in
            let kek = try TestKeys.kek()
            let store = try await StoreFixture.make(client: client, vault: vault, kek: kek, credentials: "SHRED-CREDENTIAL-MARKER")
            let survivor = try await StoreFixture.make(client: client, vault: vault, kek: kek)
            for fixture in [store, survivor] {
                try await fixture.writer.upsert(tenant: fixture.tenant, connection: fixture.connection, stream: "contacts", records: (1...10).map { TestKeys.contact($0) }, policy: TestKeys.contactPolicy)
            }
            // Reads in clear leave audit entries, which name the tenant's records.
            for fixture in [store, survivor] {
                _ = try await fixture.reader.record(tenant: fixture.tenant, key: fixture.key("3"), revealTo: .commandLine(user: "t"))
            }
            _ = try await store.keyring.rotate(store.tenant)
            // What a backup of the tenant's rows holds.
            let backup = try await ciphertexts(client, vault: vault, tenant: store.tenant)
            #expect(backup.count == 11)

            try await store.keys.shred(tenant: store.tenant)

            let fresh = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
            for (version, context, ciphertext) in backup {
                let error = await #expect(throws: HubError.self) {
                    let key = try await fresh.decryptionKey(for: store.tenant, version: version)
                    _ = try Envelope.open(ciphertext, with: key, context: context)
                }
                #expect(error?.code == .keyShredded)
            }
            let remainingKeyMaterial = try await rawText(
                vault, "SELECT coalesce(string_agg(encode(wrapped_key, 'hex'), ''), '') FROM data_keys WHERE tenant_id = '\(store.tenant)'"
            )
            #expect(remainingKeyMaterial.isEmpty)
            #expect(try await rawText(client, "SELECT count(*)::text FROM records WHERE tenant_id = '\(store.tenant)'") == "0")
            #expect(try await rawText(vault, "SELECT count(*)::text FROM connection_credentials WHERE tenant_id = '\(store.tenant)'") == "0")
            #expect(try await rawText(vault, "SELECT count(*)::text FROM audit_log WHERE tenant_id = '\(store.tenant)'") == "0")
            #expect(try await rawText(vault, "SELECT count(*)::text FROM audit_log WHERE tenant_id = '\(survivor.tenant)'") == "1")
            await #expect(throws: HubError.self) { try await fresh.encryptionKey(for: store.tenant) }
            await #expect(throws: HubError.self) { try await fresh.rotate(store.tenant) }
            // Other tenants are untouched.
            let other = try await survivor.reader.record(tenant: survivor.tenant, key: survivor.key("4"), revealTo: .commandLine(user: "t"))
            #expect(other.sensitive?.revealed["email"] == "contact4@example.com")
        }
    }

    @Test func rewrapMovesEveryKeyToTheNewKEK() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let oldKEK = try TestKeys.kek()
            let store = try await StoreFixture.make(client: client, kek: oldKEK)
            try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: [TestKeys.contact(1)], policy: TestKeys.contactPolicy)
            _ = try await store.keyring.rotate(store.tenant)
            let newKEK = try TestKeys.kek()
            #expect(try await store.keys.rewrap(to: newKEK) == 3)
            let before = Keyring(kek: oldKEK, repository: PostgresDataKeyRepository(client: client, logger: logger))
            await #expect(throws: HubError.self) { try await before.decryptionKey(for: store.tenant, version: 1) }
            let after = Keyring(kek: newKEK, repository: PostgresDataKeyRepository(client: client, logger: logger))
            let reader = RecordReader(client: client, keyring: after, logger: logger)
            let record = try await reader.record(tenant: store.tenant, key: store.key("1"), revealTo: .commandLine(user: "t"))
            #expect(record.sensitive?.revealed["email"] == "contact1@example.com")
            // Rewrapping with a keyring whose KEK doesn't match what is stored changes nothing.
            let stranger = KeyAdministration(client: client, keyring: before, logger: logger)
            await #expect(throws: HubError.self) { try await stranger.rewrap(to: try TestKeys.kek()) }
            #expect(try await reader.record(tenant: store.tenant, key: store.key("1"), revealTo: .commandLine(user: "t")).sensitive != nil)
        }
    }

    /// Rotation without downtime: processes configured with the new KEK as current and the old
    /// one as previous open every key throughout, write new keys under the new KEK, and a
    /// rewrap (resumable: a rerun moves nothing) leaves nothing needing the old one.
    @Test func aKEKRingOpensOldAndNewKeysWhileTheRewrapRuns() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let oldKEK = try TestKeys.kek()
            let store = try await StoreFixture.make(client: client, kek: oldKEK)
            try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: [TestKeys.contact(1)], policy: TestKeys.contactPolicy)
            let newKEK = try TestKeys.kek()
            let ring = try KeyEncryptionKeyRing(current: newKEK, previous: [oldKEK])
            #expect(throws: HubError.self) { try KeyEncryptionKeyRing(current: newKEK, previous: [oldKEK, newKEK]) }
            let rotating = Keyring(kek: ring, repository: PostgresDataKeyRepository(client: client, logger: logger))
            // Before the rewrap: the old keys open through the previous KEK, and a new key
            // version is wrapped by the new one.
            let reader = RecordReader(client: client, keyring: rotating, logger: logger)
            #expect(try await reader.record(tenant: store.tenant, key: store.key("1"), revealTo: .commandLine(user: "t")).sensitive?.revealed["email"] == "contact1@example.com")
            _ = try await rotating.rotate(store.tenant)
            #expect(try await rawText(client, "SELECT string_agg(DISTINCT kek_id, ',') FROM data_keys WHERE tenant_id = '\(store.tenant)' AND version = 2") == newKEK.keyID)
            // The new KEK alone cannot open what the old one still wraps, and says what to configure.
            let newOnly = Keyring(kek: newKEK, repository: PostgresDataKeyRepository(client: client, logger: logger))
            let refused = await #expect(throws: HubError.self) { try await newOnly.decryptionKey(for: store.tenant, version: 1) }
            #expect(refused?.message.contains("TRIBUTARY_PREVIOUS_MASTER_KEY_FILES") == true)
            let keys = KeyAdministration(client: client, keyring: rotating, logger: logger)
            #expect(try await keys.rewrap() == 2)
            #expect(try await keys.rewrap() == 0)
            let after = RecordReader(client: client, keyring: Keyring(kek: newKEK, repository: PostgresDataKeyRepository(client: client, logger: logger)), logger: logger)
            #expect(try await after.record(tenant: store.tenant, key: store.key("1"), revealTo: .commandLine(user: "t")).sensitive?.revealed["email"] == "contact1@example.com")
        }
    }

    func rawText(_ client: PostgresClient, _ sql: String) async throws -> String {
        var text = ""
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) {
            text += value
        }
        return text
    }

    func ciphertexts(_ client: PostgresClient, vault: PostgresClient, tenant: TenantID) async throws -> [(Int, EncryptionContext, [UInt8])] {
        var result: [(Int, EncryptionContext, [UInt8])] = []
        let records = try await client.query(
            "SELECT connection_id, stream, external_id, sensitive, key_version FROM records WHERE tenant_id = \(tenant.rawValue)",
            logger: logger
        )
        for try await (connection, stream, id, sealed, version) in records.decode((UUID, String, String, ByteBuffer, Int).self) {
            let key = RecordKey(connection: connection, stream: stream, externalID: id)
            result.append((version, EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: key.rowIdentity), Array(sealed.readableBytesView)))
        }
        let connections = try await vault.query(
            "SELECT connection_id, sealed, key_version FROM connection_credentials WHERE tenant_id = \(tenant.rawValue)", logger: logger
        )
        for try await (id, sealed, version) in connections.decode((UUID, ByteBuffer, Int).self) {
            result.append((version, ConnectionStore.credentialsContext(tenant, id), Array(sealed.readableBytesView)))
        }
        return result
    }
}

final class ProgressLog: Sendable {
    private let storage = Mutex<[Int]>([])
    func append(_ value: Int) { storage.withLock { $0.append(value) } }
    var values: [Int] { storage.withLock { $0 } }
}
