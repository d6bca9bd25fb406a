import Foundation
import HubConnectors
import HubCore
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// Manifest parts that decide which streams a sync runs and how: `ConditionalStreams` exist per
/// connection (a sync reads the streams whose condition holds for the connection's config, and
/// refuses one whose condition does not); `stream_groups` with `BlockSimultaneousSyncsAction`
/// run their streams one at a time.
@Suite("Conditional and grouped streams")
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
        #expect(definition.streamNames(config: PyValue(json: ["include_archived": true])) == ["contacts", "archived_contacts"])
        #expect(definition.streamNames(config: PyValue(json: ["include_archived": false])) == ["contacts"])

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

                // Queued while the condition held, run after the config changed: the job refuses
                // the stream once (not five times), and the run says why instead of staying queued.
                let store = ConnectionStore(client: client, keyring: harness.keyring, logger: harness.logger)
                var config = try await harness.connections.connection(harness.connection).config.objectValue ?? [:]
                config["include_archived"] = true
                _ = try await store.update(tenant: harness.tenant, connection: harness.connection, config: config, credentials: nil,
                                           status: nil, scheduleSeconds: nil)
                let queued = try await SyncService(client: client, logger: harness.logger).start(connection: harness.connection,
                                                                                                  streams: ["archived_contacts"])
                config["include_archived"] = false
                _ = try await store.update(tenant: harness.tenant, connection: harness.connection, config: config, credentials: nil,
                                           status: nil, scheduleSeconds: nil)
                let refused = try await harness.runWorker(until: queued.map(\.run), timeout: .seconds(60))
                #expect(refused.map(\.status) == [.failed], "\(refused.map { $0.error ?? "" })")
                #expect(refused.first?.error?.contains("does not exist with this connection's config") == true, "\(refused.map { $0.error ?? "" })")
                #expect(try await harness.count("SELECT attempt FROM jobs WHERE id = \(queued[0].job) AND state = 'discarded'") == 1)
            }
        }
    }

    @Test("streams of a blocking stream group are queued in one group of one; the others keep the account's slots")
    func blockingGroupsShareOneSlot() async throws {
        let manifest = Self.manifest.replacingOccurrences(of: "spec:\n", with: """
            stream_groups:
              one_session:
                streams:
                  - name: contacts
                  - name: archived_contacts
                action:
                  type: BlockSimultaneousSyncsAction
            spec:

            """)
        // A sync job takes one queue group: account_concurrency and stream_groups don't mix.
        let mixed = #expect(throws: HubError.self) { try ConnectorDefinition(name: "grouped", manifest: manifest, sidecar: FakeCRM.sidecar) }
        #expect(mixed?.message.contains("account_concurrency cannot be combined") == true, "\(String(describing: mixed))")
        let sidecar = FakeCRM.sidecar.replacingOccurrences(of: "account_concurrency: 2\n", with: "")
        let definition = try ConnectorDefinition(name: "grouped", manifest: manifest, sidecar: sidecar)
        #expect(definition.source?.blockingGroups == ["contacts": "one_session", "archived_contacts": "one_session"])
        let bad = manifest.replacingOccurrences(of: "- name: archived_contacts", with: "- name: nowhere")
        let error = #expect(throws: HubError.self) { try ConnectorDefinition(name: "grouped", manifest: bad, sidecar: sidecar) }
        #expect(error?.message.contains("stream nowhere is not one of the manifest's streams") == true, "\(String(describing: error))")

        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await SyncHarness.make(client: client, baseURL: "http://127.0.0.1:9", crm: FakeCRM(count: 1), manifest: manifest,
                                                     sidecar: sidecar)
            var config = try await harness.connections.connection(harness.connection).config.objectValue ?? [:]
            config["include_archived"] = true
            let store = ConnectionStore(client: client, keyring: harness.keyring, logger: harness.logger)
            _ = try await store.update(tenant: harness.tenant, connection: harness.connection, config: config, credentials: nil,
                                       status: nil, scheduleSeconds: nil)
            let started = try await SyncService(client: client, logger: harness.logger).start(connection: harness.connection)
            #expect(Set(started.map(\.stream)) == ["contacts", "archived_contacts"])
            let rows = try await client.query(
                "SELECT DISTINCT group_key, group_limit FROM jobs WHERE args->>'connection' = \(harness.connection.uuidString.lowercased())",
                logger: harness.logger)
            var groups: [(String?, Int?)] = []
            for try await (key, limit) in rows.decode((String?, Int?).self) { groups.append((key, limit)) }
            #expect(groups.count == 1 && groups.first?.1 == 1, "\(groups)")
            #expect(groups.first?.0?.hasSuffix(":one_session") == true, "\(groups)")
        }
    }
}
