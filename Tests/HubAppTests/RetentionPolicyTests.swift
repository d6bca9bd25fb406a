import Foundation
import HubApp
import HubCore
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

/// Every table that grows with use shrinks again: old runs (never a stream's latest), webhook
/// payloads (rows kept for replay protection), audit entries and soft-deleted records.
@Suite("Retention")
struct RetentionPolicyTests {
    func count(_ client: PostgresClient, _ sql: PostgresQuery) async throws -> Int {
        for try await value in try await client.query(sql, logger: TestDatabase.logger).decode(Int.self) { return value }
        return 0
    }

    @Test("old history goes, recent history and each stream's latest run stay")
    func pruning() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let store = try await StoreFixture.make(client: client, kek: try TestKeys.kek())
            let logger = store.logger
            let (tenant, connection) = (store.tenant.rawValue, store.connection)
            // Runs: two old finished ones of one stream (both go: a newer one exists), one old of
            // another stream (its latest: stays), one recent.
            for (stream, age) in [("contacts", 200), ("contacts", 100), ("companies", 300), ("contacts", 1)] {
                try await client.query("""
                    INSERT INTO sync_runs (tenant_id, connection_id, stream, status, created_at, finished_at)
                    VALUES (\(tenant), \(connection), \(stream), 'succeeded', now() - make_interval(days => \(age)::int),
                            now() - make_interval(days => \(age)::int))
                    """, logger: logger)
            }
            // Webhook events received 40 days and 400 days ago, and one today.
            for (id, age) in [("evt_40", 40), ("evt_400", 400), ("evt_now", 0)] {
                try await client.query("""
                    INSERT INTO webhook_events (tenant_id, connection_id, provider_event_id, event_type, payload, key_version, verified_by,
                                                status, received_at)
                    VALUES (\(tenant), \(connection), \(id), 't', '\\x0102'::bytea, 1, 'stripe', 'processed', now() - make_interval(days => \(age)::int))
                    """, logger: logger)
            }
            for age in [400, 10] {
                try await client.query("""
                    INSERT INTO audit_log (tenant_id, actor, action, at) VALUES (\(tenant), 'cli:t', 'decrypt', now() - make_interval(days => \(age)::int))
                    """, logger: logger)
            }
            try await store.writer.upsert(tenant: store.tenant, connection: connection, stream: "contacts",
                                          records: (1...3).map { TestKeys.contact($0) }, policy: TestKeys.contactPolicy)
            try await client.query("UPDATE records SET deleted_at = now() - interval '45 days' WHERE external_id = '1'", logger: logger)
            try await client.query("UPDATE records SET deleted_at = now() - interval '2 days' WHERE external_id = '2'", logger: logger)

            let report = try await RetentionPolicy().apply(client: client, keyring: store.keyring, logger: logger)
            // The 400-day event's payload is erased on its way out too.
            #expect(report == RetentionPolicy.Report(runs: 2, webhookPayloads: 2, webhookRows: 1, auditEntries: 1, deletedRecords: 1))
            #expect(try await count(client, "SELECT count(*)::int FROM sync_runs WHERE stream = 'contacts'") == 1)
            #expect(try await count(client, "SELECT count(*)::int FROM sync_runs WHERE stream = 'companies'") == 1)
            #expect(try await count(client, "SELECT count(*)::int FROM webhook_events WHERE provider_event_id = 'evt_40' AND payload = ''::bytea") == 1)
            #expect(try await count(client, "SELECT count(*)::int FROM webhook_events WHERE provider_event_id = 'evt_now' AND payload <> ''::bytea") == 1)
            #expect(try await count(client, "SELECT count(*)::int FROM webhook_events WHERE provider_event_id = 'evt_400'") == 0)
            #expect(try await count(client, "SELECT count(*)::int FROM audit_log") == 1)
            #expect(try await count(client, "SELECT count(*)::int FROM records WHERE external_id IN ('1', '2', '3')") == 2)
            // A second pass finds nothing more.
            #expect(try await RetentionPolicy().apply(client: client, keyring: store.keyring, logger: logger) == RetentionPolicy.Report())
        }
    }

    @Test("the retention variables are read in days and bounded")
    func configuration() throws {
        let configuration = try HubConfiguration.fromEnvironment(["TRIBUTARY_AUDIT_RETENTION_DAYS": "7"])
        #expect(configuration.retention.auditLog == .seconds(7 * 86_400))
        #expect(throws: HubError.self) { try HubConfiguration.fromEnvironment(["TRIBUTARY_RUN_RETENTION_DAYS": "0"]) }
        #expect(throws: HubError.self) { try HubConfiguration.fromEnvironment(["TRIBUTARY_DELETED_RECORD_RETENTION_DAYS": "1e9"]) }
    }
}
