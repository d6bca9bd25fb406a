import Foundation
import HubConnectors
import HubCore
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// A manifest's `ConditionalStreams` exist per connection: a sync reads the streams whose
/// condition holds for the connection's config, and refuses one whose condition does not.
@Suite("Conditional streams")
struct ConditionalStreamsTests {
    static let manifest = FakeCRM.manifest.replacingOccurrences(of: "spec:\n", with: """
          - type: ConditionalStreams
            condition: "{{ config.get('include_archived', False) }}"
            streams:
              - type: DeclarativeStream
                name: archived_contacts
                primary_key: [id]
                retriever:
                  type: SimpleRetriever
                  requester:
                    $ref: "#/definitions/requester"
                    path: /contacts
                  record_selector:
                    type: RecordSelector
                    extractor:
                      type: DpathExtractor
                      field_path: [data]
        spec:

        """)

    @Test("a stream whose condition is false for the connection's config is neither synced nor startable")
    func falseConditionLeavesTheStreamOut() async throws {
        let definition = try ConnectorDefinition(name: "conditional", manifest: Self.manifest, sidecar: FakeCRM.sidecar)
        #expect(definition.streamNames == ["contacts", "archived_contacts"])
        #expect(try definition.streamNames(config: PyValue(json: ["include_archived": true])) == ["contacts", "archived_contacts"])
        #expect(try definition.streamNames(config: PyValue(json: ["include_archived": false])) == ["contacts"])

        let crm = FakeCRM(count: 20)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, manifest: Self.manifest)
                let runs = try await harness.sync()
                #expect(runs.map(\.status) == [.succeeded], "\(runs.map { $0.error ?? "" })")
                #expect(try await harness.count("SELECT count(DISTINCT stream)::int FROM records WHERE connection_id = \(harness.connection)") == 1)
                let error = await #expect(throws: HubError.self) {
                    try await SyncService(client: client, logger: harness.logger).start(connection: harness.connection, streams: ["archived_contacts"])
                }
                #expect(error?.message.contains("does not exist with this connection's config") == true, "\(String(describing: error))")
            }
        }
    }
}
