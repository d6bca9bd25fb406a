import Foundation
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

/// The vault database (docs/vault.md): keys, credentials and the audit log in a database of
/// their own, reached by a role of its own.
@Suite("The vault database")
struct VaultTests {
    let logger = TestDatabase.logger

    @Test func eachRoleReachesOnlyItsOwnDatabase() async throws {
        let (main, vault) = try await TestDatabase.makeSplitDatabases()
        // The main database's role, pointed at the vault, and the other way round.
        for (url, other) in [(main, vault), (vault, main)] {
            let error = await #expect(throws: (any Error).self) {
                try await TestDatabase.withClient(url.withDatabase(other.database)) { client in
                    _ = try await client.query("SELECT 1", logger: logger)
                }
            }
            // Refused for want of the right to connect, not for any other reason.
            let text = error.map { ($0 as? HubError)?.message ?? String(reflecting: $0) } ?? ""
            #expect(text.contains("permission denied for database"), "\(text)")
        }
        // Each reaches its own.
        #expect(try await TestDatabase.scalar(main, "SELECT count(*)::int FROM records") == 0)
        #expect(try await TestDatabase.scalar(vault, "SELECT count(*)::int FROM data_keys") == 0)
        // The main database has no copy of the vault's tables left to write secrets into.
        #expect(try await TestDatabase.scalar(main, "SELECT count(*)::int FROM pg_tables WHERE tablename IN ('data_keys', 'audit_log', 'connection_credentials', 'vault_tenants')") == 0)
    }

    /// A main database runs only with its own vault: another install's (another environment,
    /// another restore) is refused by name, before anything reads or collects there.
    @Test func aMainDatabaseRefusesAnotherInstallsVault() async throws {
        let (mainA, vaultA) = try await TestDatabase.makeSplitDatabases()
        let (_, vaultB) = try await TestDatabase.makeSplitDatabases()
        try await TestDatabase.withClient(mainA) { main in
            try await TestDatabase.withClient(vaultA) { own in
                #expect(try await VaultSplit.layoutProblem(main: main, vault: own, logger: logger) == nil)
                try await VaultSplit.pair(main: main, vault: own, logger: logger)
            }
            try await TestDatabase.withClient(vaultB) { other in
                let problem = try await VaultSplit.layoutProblem(main: main, vault: other, logger: logger)
                #expect(problem?.code == .invalidConfiguration)
                #expect(problem?.message.contains("another environment's vault") == true, "\(String(describing: problem))")
                await #expect(throws: HubError.self) { try await VaultSplit.pair(main: main, vault: other, logger: logger) }
            }
        }
    }

    /// The proof of issue 19: a dump of the main database holds no key, credential or sensitive
    /// value; a dump of the vault holds no record data, in clear or sealed.
    @Test func aDumpOfEitherDatabaseHoldsNothingOfTheOther() async throws {
        let (mainURL, vaultURL) = try await TestDatabase.makeSplitDatabases()
        let credential = "sk_live_VAULT_ONLY_7f3a9c"
        let (wrappedKeys, sealedRecords) = try await TestDatabase.withClient(mainURL) { client in
            try await TestDatabase.withClient(vaultURL) { vault in
                let store = try await StoreFixture.make(client: client, vault: vault, kek: try TestKeys.kek(), credentials: #"{"api_key":"\#(credential)"}"#)
                let records = (1...20).map { TestKeys.contact($0, email: "person\($0)@secret-domain.test", phone: "+1 555 77\($0)") }
                try await store.writer.upsert(tenant: store.tenant, connection: store.connection, stream: "contacts", records: records,
                                              policy: TestKeys.contactPolicy)
                _ = try await store.reader.record(tenant: store.tenant, key: store.key("3"), revealTo: .commandLine(user: "auditor"))
                #expect(String(decoding: try await store.connections.credentials(tenant: store.tenant, connection: store.connection).revealed,
                               as: UTF8.self).contains(credential))
                var wrapped: [String] = []
                for try await value in try await vault.query("SELECT encode(wrapped_key, 'hex') FROM data_keys", logger: logger).decode(String.self) {
                    wrapped.append(value)
                }
                var sealed: [String] = []
                for try await value in try await client.query("SELECT encode(sensitive, 'hex') FROM records", logger: logger).decode(String.self) {
                    sealed.append(value)
                }
                return (wrapped, sealed)
            }
        }
        #expect(wrappedKeys.count == 2)
        #expect(sealedRecords.count == 20)

        let mainDump = try await TestDatabase.dump(mainURL)
        #expect(mainDump.contains("Contact 7"), "the dump must hold the records' clear fields, or it proves nothing")
        #expect(!mainDump.contains(credential))
        #expect(!mainDump.contains("secret-domain.test"))
        #expect(!mainDump.contains("555 77"))
        for wrapped in wrappedKeys { #expect(!mainDump.contains(wrapped), "a wrapped key is in the main database's dump") }
        for table in ["data_keys", "connection_credentials", "audit_log", "vault_tenants"] {
            #expect(!mainDump.contains("CREATE TABLE public.\(table) "), "\(table) is in the main database")
        }

        let vaultDump = try await TestDatabase.dump(vaultURL)
        #expect(vaultDump.contains("cli:auditor"), "the dump must hold the audit log, or it proves nothing")
        #expect(!vaultDump.contains(credential))
        for text in ["Contact 7", "secret-domain.test", "555 77", "person3@"] { #expect(!vaultDump.contains(text)) }
        for sealed in sealedRecords { #expect(!vaultDump.contains(sealed), "a record's ciphertext is in the vault's dump") }
    }

    @Test func credentialsOfADeletedConnectionAreCollected() async throws {
        let (mainURL, vaultURL) = try await TestDatabase.makeSplitDatabases()
        try await TestDatabase.withClient(mainURL) { client in
            try await TestDatabase.withClient(vaultURL) { vault in
                let store = try await StoreFixture.make(client: client, vault: vault, kek: try TestKeys.kek())
                let kept = try await store.connections.create(tenant: store.tenant, connector: "test-crm", connectorVersion: 1,
                                                              credentials: Secret(Array("kept".utf8)))
                // A store without the keyring cannot reach the vault: the credential is left behind.
                #expect(try await ConnectionStore(client: client, logger: logger).delete(tenant: store.tenant, connection: store.connection))
                #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM connection_credentials") == 2)
                // Too young to collect: a create may be between its two writes.
                #expect(try await store.connections.collectOrphanedCredentials() == 0)
                #expect(try await store.connections.collectOrphanedCredentials(olderThan: .zero) == 1)
                #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM connection_credentials WHERE connection_id = '\(kept)'") == 1)
                // A delete through the keyring's store removes both at once.
                #expect(try await store.connections.delete(tenant: store.tenant, connection: kept))
                #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM connection_credentials") == 0)
                // A vault whose credentials the main database mostly doesn't know is paired with the
                // wrong main database: collecting there would destroy them all, so nothing is.
                try await vault.query(
                    """
                    INSERT INTO connection_credentials (connection_id, tenant_id, sealed, key_version, updated_at)
                    SELECT gen_random_uuid(), \(store.tenant.rawValue), '\\x00'::bytea, 1, now() - interval '2 hours' FROM generate_series(1, 30)
                    """,
                    logger: logger
                )
                let refused = await #expect(throws: HubError.self) { try await store.connections.collectOrphanedCredentials() }
                #expect(refused?.message.contains("TRIBUTARY_DATABASE_URL") == true, "\(String(describing: refused))")
                #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM connection_credentials") == 30)
            }
        }
    }

    @Test func aConnectionWhoseCredentialsNeverLandedSaysSo() async throws {
        let (mainURL, vaultURL) = try await TestDatabase.makeSplitDatabases()
        try await TestDatabase.withClient(mainURL) { client in
            try await TestDatabase.withClient(vaultURL) { vault in
                let store = try await StoreFixture.make(client: client, vault: vault, kek: try TestKeys.kek())
                // A crash between the main write and the vault write of a create.
                try await vault.query("DELETE FROM connection_credentials WHERE connection_id = \(store.connection)", logger: logger)
                let error = await #expect(throws: HubError.self) {
                    try await store.connections.credentials(tenant: store.tenant, connection: store.connection)
                }
                #expect(error?.code == .storedDataInvalid)
                #expect(error?.message.contains("has no stored credentials") == true)
                // Updating the config stores them again.
                _ = try await store.connections.update(tenant: store.tenant, connection: store.connection, config: nil,
                                                       credentials: Secret(Array("again".utf8)), status: nil, scheduleSeconds: nil)
                #expect(try await store.connections.credentials(tenant: store.tenant, connection: store.connection).revealed == Array("again".utf8))
                // An update whose vault half is lost (or overtaken by another update's): the
                // stored credentials may be another config's, for another host, and are refused.
                try await vault.query("UPDATE connection_credentials SET generation = gen_random_uuid() WHERE connection_id = \(store.connection)",
                                      logger: logger)
                let crossed = await #expect(throws: HubError.self) {
                    try await store.connections.credentials(tenant: store.tenant, connection: store.connection)
                }
                #expect(crossed?.code == .storedDataInvalid)
                #expect(crossed?.message.contains("do not belong to the config read with them") == true)
                // Pausing touches neither; updating the config with its credentials puts them in step.
                _ = try await store.connections.update(tenant: store.tenant, connection: store.connection, config: nil, credentials: nil,
                                                       status: .paused, scheduleSeconds: nil)
                await #expect(throws: HubError.self) { try await store.connections.credentials(tenant: store.tenant, connection: store.connection) }
                _ = try await store.connections.update(tenant: store.tenant, connection: store.connection, config: ["region": .string("eu")],
                                                       credentials: Secret(Array("third".utf8)), status: nil, scheduleSeconds: nil)
                #expect(try await store.connections.credentials(tenant: store.tenant, connection: store.connection).revealed == Array("third".utf8))
                // Another tenant's connection id is "not found", never its credentials.
                let other = try await StoreFixture.make(client: client, vault: vault, kek: try TestKeys.kek())
                let refused = await #expect(throws: HubError.self) {
                    try await other.connections.credentials(tenant: other.tenant, connection: store.connection)
                }
                #expect(refused?.code == .notFound)
            }
        }
    }

    /// The race a shred has with a new key: the main database said the tenant was live, but
    /// the shred reached the vault first. The vault's own tenant row refuses the key.
    @Test func noKeyIsStoredAfterTheVaultShreddedItsTenant() async throws {
        let (mainURL, vaultURL) = try await TestDatabase.makeSplitDatabases()
        try await TestDatabase.withClient(mainURL) { client in
            try await TestDatabase.withClient(vaultURL) { vault in
                let kek = try TestKeys.kek()
                let store = try await StoreFixture.make(client: client, vault: vault, kek: kek)
                try await store.keys.shred(tenant: store.tenant)
                // As if the main database's half had not happened yet.
                try await client.query("UPDATE tenants SET shredded_at = NULL WHERE id = \(store.tenant.rawValue)", logger: logger)
                let repository = PostgresDataKeyRepository(client: client, vault: vault, logger: logger)
                let error = await #expect(throws: HubError.self) {
                    try await repository.insertDataKey(
                        WrappedDataKey(tenant: store.tenant, purpose: .data, version: 9, wrapped: [1, 2, 3], kekID: kek.keyID, state: .active)
                    )
                }
                #expect(error?.code == .keyShredded)
                #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM data_keys WHERE wrapped_key IS NOT NULL") == 0)
                // The hourly job finishes a shred whose main half never happened.
                let apiKey = try await ApiKeyStore(client: client, logger: logger).create(tenant: store.tenant, name: "left", scopes: [.recordsRead])
                #expect(try await store.keys.finishInterruptedShreds() == 1)
                #expect(try await TestDatabase.scalar(mainURL, "SELECT count(*)::int FROM tenants WHERE id = '\(store.tenant)' AND shredded_at IS NOT NULL") == 1)
                #expect(try await TestDatabase.scalar(mainURL, "SELECT count(*)::int FROM api_keys WHERE id = '\(apiKey.id)'") == 0)
                #expect(try await store.keys.finishInterruptedShreds() == 0)
            }
        }
    }
}
