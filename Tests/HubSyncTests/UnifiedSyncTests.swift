import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// A sync whose connector maps its stream into a unified model links every record as it
/// writes it, in the same transaction.
@Suite("Unified sync")
struct UnifiedSyncTests {
    static let sidecar = FakeCRM.sidecar + """

            unified:
              person:
                email: "{{ record.email }}"
                phone: "{{ record.phone }}"
                full_name: "{{ record.name }}"
        """

    static let model = """
        name: person
        schema: {type: object, properties: {email: {type: string}, phone: {type: string}, full_name: {type: string}}}
        sensitive: [email, phone]
        identity: {email: email, phone: phone_digits}
        """

    @Test("two connections knowing the same 300 people make 300 entities of two sources each, sealed and linked on blind indexes")
    func twoSourcesOnePerson() async throws {
        let crm = FakeCRM(count: 300)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                _ = try await ModelStore(client: client, logger: TestDatabase.logger).register(name: "person", definition: Self.model)
                let kek = try TestKeys.kek()
                let first = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, sidecar: Self.sidecar, kek: kek)
                #expect(try await first.sync().map(\.status) == [.succeeded])
                #expect(try await first.count("SELECT count(*)::int FROM unified_sources WHERE connection_id = \(first.connection)") == 300)
                #expect(try await first.count("SELECT count(DISTINCT entity_id)::int FROM unified_sources") == 300)
                // Emails and phones are sealed; only the name is plain.
                #expect(try await first.count("""
                    SELECT count(*)::int FROM unified_sources WHERE data ? 'email' OR data ? 'phone' OR sensitive IS NULL
                      OR data::text ILIKE '%example.com%'
                    """) == 0)
                // A second connection of the same tenant, to another CRM knowing the same people.
                let second = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, sidecar: Self.sidecar, kek: kek,
                                                        tenant: first.tenant)
                #expect(try await second.sync().map(\.status) == [.succeeded])
                #expect(try await first.count("SELECT count(*)::int FROM unified_sources") == 600)
                #expect(try await first.count("SELECT count(DISTINCT entity_id)::int FROM unified_sources") == 300)
                #expect(try await first.count("""
                    SELECT count(*)::int FROM (SELECT entity_id FROM unified_sources GROUP BY entity_id HAVING count(*) = 2) two
                    """) == 300)
                // Read back: found by email without decrypting; the entity has both sources.
                let reader = EntityReader(client: client, keyring: first.keyring, logger: TestDatabase.logger)
                let found = try await reader.entities(tenant: first.tenant, model: "person",
                                                      identity: (BlindIndexField(name: "email", normalizer: .lowercaseTrim), "person7@example.com"),
                                                      after: nil, limit: 5, actor: nil)
                #expect(found.count == 1 && found.first?.sources.count == 2)
                #expect(found.first?.sources.first?.data["full_name"] == .string("Contact 7"))
            }
        }
    }

    @Test("a full refresh that no longer sees a record takes it out of its entity")
    func deletedRecordsLeaveTheirEntities() async throws {
        let crm = FakeCRM(count: 20)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                _ = try await ModelStore(client: client, logger: TestDatabase.logger).register(name: "person", definition: Self.model)
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, sidecar: Self.sidecar)
                #expect(try await harness.sync(fullRefresh: true).map(\.status) == [.succeeded])
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources") == 20)
                crm.remove(7)
                #expect(try await harness.sync(fullRefresh: true).map(\.status) == [.succeeded])
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources") == 19)
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources WHERE external_id = 'c7'") == 0)
            }
        }
    }

    @Test("a mapping that fails on a record fails the sync, naming the connector, stream, field and expression")
    func failingMappingIsNamed() async throws {
        let crm = FakeCRM(count: 10)
        let url = try await TestDatabase.makeMigratedDatabase()
        let sidecar = FakeCRM.sidecar + """

                unified:
                  person:
                    email: "{{ record.email + 1 }}"
            """
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                _ = try await ModelStore(client: client, logger: TestDatabase.logger).register(name: "person", definition: Self.model)
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, sidecar: sidecar)
                let runs = try await harness.sync()
                #expect(runs.map(\.status) == [.failed])
                let error = runs.first?.error ?? ""
                #expect(error.contains("hub.yaml streams.contacts.unified.person.email") && error.contains("record.email + 1"), "\(error)")
                #expect(!error.contains("example.com"), "the record's values stay out of the error")
            }
        }
    }
}
