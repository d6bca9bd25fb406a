import Foundation
import HubConnectors
import HubCore
import HubQueue
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// Changing what derives unified data (a connector version's mappings, a model's version)
/// maps the records already stored again, as a queued job with progress, fetching nothing.
@Suite("Unified re-derivation")
struct UnifiedRederivationTests {
    static func sidecar(fullName: String?) -> String {
        var text = FakeCRM.sidecar + """

                unified:
                  person:
                    email: "{{ record.email }}"
            """
        if let fullName { text += "\n        full_name: \"\(fullName)\"" }
        return text
    }

    @Test("a new mapping, a new model version and a removed mapping each re-derive the stored records; entities keep their ids")
    func rederives() async throws {
        let crm = FakeCRM(count: 620)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let logger = TestDatabase.logger
                let models = ModelStore(client: client, logger: logger)
                _ = try await models.register(name: "person", definition: UnifiedSyncTests.model)
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, sidecar: Self.sidecar(fullName: "{{ record.name }}"))
                #expect(try await harness.sync().map(\.status) == [.succeeded])
                let entitiesBefore = try await harness.count("SELECT count(DISTINCT entity_id)::int FROM unified_sources")
                #expect(entitiesBefore == 620)
                let idsBefore = try await Self.entityIDs(client)
                let requestsAfterSync = crm.requests

                let info = try await harness.connections.connection(harness.connection)
                let (upper, _) = try await ConnectorStore(client: client, logger: logger).register(
                    name: info.connector, manifest: FakeCRM.manifest, sidecar: Self.sidecar(fullName: "{{ record.name | upper }}"))
                let catalog = ConnectorCatalog(store: ConnectorStore(client: client, logger: logger))
                let service = ConnectionService(client: client, keyring: harness.keyring, catalog: catalog, logger: logger)
                try await service.update(.init(tenant: harness.tenant, connection: harness.connection, connectorVersion: upper))

                let first = try await Self.rederivations(client)
                #expect(first.count == 1)
                let jobs = try await harness.runWorker(untilJobs: first)
                #expect(jobs.map(\.state) == [.completed], "\(jobs.map(\.errors))")
                #expect(jobs.first?.progress["records"] == .number(620) && jobs.first?.progress["finished"] == .bool(true), "\(jobs.first?.progress ?? .null)")
                #expect(crm.requests == requestsAfterSync, "re-deriving fetched nothing")
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources WHERE data->>'full_name' = upper(data->>'full_name')") == 620)
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources WHERE data->>'full_name' = 'CONTACT 7'") == 1)
                #expect(try await Self.entityIDs(client) == idsBefore, "every entity kept its id")

                // A model version that seals full_name: the connection's data is derived again.
                let sealedName = UnifiedSyncTests.model.replacingOccurrences(of: "sensitive: [email, phone]", with: "sensitive: [email, phone, full_name]")
                #expect(try await models.register(name: "person", definition: sealedName).created)
                #expect(try await RederivationService(client: client, catalog: catalog, logger: logger).modelChanged("person") == 1)
                let second = try await Self.rederivations(client).filter { !first.contains($0) }
                #expect(try await harness.runWorker(untilJobs: second).map(\.state) == [.completed])
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources WHERE data ? 'full_name'") == 0, "full_name is sealed now")
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources") == 620)

                // A version that maps nothing: every source leaves its entity.
                let (unmapped, _) = try await ConnectorStore(client: client, logger: logger).register(
                    name: info.connector, manifest: FakeCRM.manifest, sidecar: FakeCRM.sidecar)
                try await service.update(.init(tenant: harness.tenant, connection: harness.connection, connectorVersion: unmapped))
                let third = try await Self.rederivations(client).filter { !first.contains($0) && !second.contains($0) }
                #expect(third.count == 1)
                #expect(try await harness.runWorker(untilJobs: third).map(\.state) == [.completed])
                #expect(try await harness.count("SELECT count(*)::int FROM unified_sources") == 0)
                #expect(crm.requests == requestsAfterSync)
            }
        }
    }

    static func rederivations(_ client: PostgresClient) async throws -> [Int64] {
        var ids: [Int64] = []
        for try await id in try await client.query("SELECT id FROM jobs WHERE kind = 'unified.rederive' ORDER BY id", logger: TestDatabase.logger)
            .decode(Int64.self) { ids.append(id) }
        return ids
    }

    static func entityIDs(_ client: PostgresClient) async throws -> Set<UUID> {
        var ids = Set<UUID>()
        for try await id in try await client.query("SELECT DISTINCT entity_id FROM unified_sources", logger: TestDatabase.logger).decode(UUID.self) {
            ids.insert(id)
        }
        return ids
    }
}
