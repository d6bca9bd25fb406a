import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// Syncs through the queue into a real PostgreSQL, from a fake CRM served over HTTP.
@Suite("Stream sync")
struct StreamSyncTests {
    @Test("a sync stores every record once, encrypted and blind-indexed, with its state")
    func syncStoresEncryptedRecords() async throws {
        let crm = FakeCRM(count: 1200)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm)
                let runs = try await harness.sync()
                #expect(runs.map(\.status) == [.succeeded], "\(runs.map { $0.error ?? "" })")
                #expect(runs.first?.recordsRead == 1200)
                #expect(runs.first?.recordsWritten == 1200)
                #expect(runs.first?.pages == 3)
                let stored = try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)")
                #expect(stored == 1200)
                // No email or phone in clear anywhere in the row.
                let plaintext = try await harness.count("""
                    SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)
                      AND (data::text ILIKE '%example.com%' OR data ? 'email' OR data ? 'phone'
                           OR position(convert_to('Person', 'UTF8') in sensitive) > 0 OR sensitive IS NULL)
                    """)
                #expect(plaintext == 0)
                // The email is found through its blind index, normalized (case and spaces ignored).
                let indexKey = try await harness.keyring.indexKey(for: harness.tenant)
                let digest = BlindIndex.digest("  person7@EXAMPLE.com ", field: BlindIndexField(name: "email", normalizer: .lowercaseTrim), key: indexKey)
                let rows = try await client.query(
                    "SELECT external_id FROM records WHERE connection_id = \(harness.connection) AND blind_index @> ARRAY[\(ByteBuffer(bytes: digest))]::bytea[]",
                    logger: harness.logger
                )
                var found: [String] = []
                for try await id in rows.decode(String.self) { found.append(id) }
                #expect(found == ["c7"])
                let state = try await harness.syncs.state(connection: harness.connection, stream: "contacts")
                #expect(state == .object(["updated_at": .string("2024-01-01T20:00:00Z")]))
                // Job arguments carry ids only: the API key is nowhere in the queue.
                let leaked = try await harness.count("SELECT count(*)::int FROM jobs WHERE args::text LIKE \("%" + crm.token + "%") OR errors::text LIKE \("%" + crm.token + "%")")
                #expect(leaked == 0)
            }
        }
    }

    @Test("the next sync resumes from the state, fetching only changes, and rewrites only what changed")
    func incrementalSyncFetchesChanges() async throws {
        let crm = FakeCRM(count: 600)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm)
                #expect(try await harness.sync().map(\.status) == [.succeeded])
                crm.update(5, version: 1)
                let second = try await harness.sync()
                #expect(second.map(\.status) == [.succeeded])
                // The last record (the state's own) comes back with the changed one; only c5 changed.
                #expect(second.first?.recordsRead == 2)
                #expect(second.first?.recordsWritten == 1)
                #expect(try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)") == 600)
                let name = try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection) AND external_id = 'c5' AND data->>'name' = 'Contact 5 v1'")
                #expect(name == 1)
            }
        }
    }

    @Test("a full refresh marks records the source no longer has as deleted")
    func fullRefreshMarksDeleted() async throws {
        let crm = FakeCRM(count: 300)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm)
                #expect(try await harness.sync().map(\.status) == [.succeeded])
                crm.remove(3)
                let refresh = try await harness.sync(fullRefresh: true)
                #expect(refresh.map(\.status) == [.succeeded])
                #expect(refresh.first?.recordsDeleted == 1)
                #expect(refresh.first?.recordsWritten == 0)
                let deleted = try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection) AND deleted_at IS NOT NULL")
                #expect(deleted == 1)
                let c3 = try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection) AND external_id = 'c3' AND deleted_at IS NOT NULL")
                #expect(c3 == 1)
            }
        }
    }

    @Test("a full refresh cut short by an ignored response marks nothing deleted")
    func ignoredResponseDeletesNothing() async throws {
        let crm = FakeCRM(count: 1200)
        let manifest = FakeCRM.manifest.replacingOccurrences(
            of: "max_retries: 3\n",
            with: "max_retries: 3\n      response_filters:\n        - {type: HttpResponseFilter, http_codes: [404], action: IGNORE}\n")
        #expect(manifest.contains("action: IGNORE"))
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, manifest: manifest)
                #expect(try await harness.sync().first?.recordsWritten == 1200)
                // The full refresh's second page (of three) answers 404, which the manifest
                // ignores: pagination ends after 500 records, as in the CDK.
                let before = crm.requests
                crm.inject(.status(404), atRequest: before + 2)
                let refresh = try await harness.sync(fullRefresh: true)
                #expect(refresh.map(\.status) == [.succeeded])
                #expect(crm.requests - before == 2, "page one, then the ignored page two ends the pass")
                #expect(refresh.first?.recordsDeleted == 0)
                let deleted = try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection) AND deleted_at IS NOT NULL")
                #expect(deleted == 0, "700 records the pass never reached were marked deleted")
            }
        }
    }
}

/// Stored values that do not decode are errors naming the row, never a default: a config read
/// as `{}` would sync with no settings, and a record read as `{}` would serve an empty record.
@Suite("Stored data that does not decode")
struct StoredDataTests {
    @Test func aCorruptConfigStateOrRecordIsAnErrorThatNamesIt() async throws {
        let crm = FakeCRM(count: 3)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm)
                #expect(try await harness.sync().map(\.status) == [.succeeded])
                let logger = harness.logger
                try await client.query("UPDATE connections SET config = '[1, 2]' WHERE id = \(harness.connection)", logger: logger)
                try await client.query("UPDATE records SET data = '\"text\"'::jsonb WHERE connection_id = \(harness.connection) AND external_id = 'c1'",
                                       logger: logger)

                let config = await #expect(throws: HubError.self) { _ = try await harness.connections.connection(harness.connection) }
                #expect(config?.code == .storedDataInvalid)
                #expect(config?.message.contains(harness.connection.uuidString) == true, "\(String(describing: config))")

                let reader = RecordReader(client: client, keyring: harness.keyring, logger: logger)
                let record = await #expect(throws: HubError.self) {
                    _ = try await reader.record(tenant: harness.tenant, key: RecordKey(connection: harness.connection, stream: "contacts", externalID: "c1"))
                }
                #expect(record?.code == .storedDataInvalid)
                #expect(record?.message.contains("c1") == true)

                // A status this binary does not know (a newer one wrote it) names the row too.
                try await client.query("ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check", logger: logger)
                try await client.query("UPDATE sync_runs SET status = 'archived' WHERE connection_id = \(harness.connection)", logger: logger)
                let run = await #expect(throws: HubError.self) {
                    _ = try await harness.runs.runs(connection: harness.connection, tenant: harness.tenant, latestPerStream: false)
                }
                #expect(run?.code == .storedDataInvalid)
                #expect(run?.message.contains("has status archived") == true, "\(String(describing: run))")
            }
        }
    }
}
