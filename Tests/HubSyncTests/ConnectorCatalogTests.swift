import HubConnectors
import HubStore
import HubSync
import Testing
import TributaryTestSupport

/// The parsed-definition cache of a long-lived process stays bounded however many versions
/// operators publish.
@Suite("Connector catalog")
struct ConnectorCatalogTests {
    @Test("past its capacity the catalog drops the versions parsed longest ago, and parses them again on demand")
    func bounded() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let store = ConnectorStore(client: client, logger: TestDatabase.logger)
            var versions: [Int] = []
            for hours in 1...4 {
                let (version, _) = try await store.register(name: "notes", manifest: SessionIsolationTests.manifest,
                                                            sidecar: "schedule: PT\(hours)H\n")
                versions.append(version)
            }
            #expect(Set(versions).count == 4)
            let catalog = ConnectorCatalog(store: store, capacity: 2)
            for version in versions { _ = try await catalog.definition(name: "notes", version: version) }
            #expect(catalog.count == 2)
            let first = try await catalog.definition(name: "notes", version: versions[0])
            #expect(first.name == "notes")
            #expect(catalog.count == 2)
        }
    }
}
