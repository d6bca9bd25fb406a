import Foundation
import HubCore
import HubStore
@testable import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// The scheduler's pass over connections: due ones get one job per stream and a next time;
/// a stream already queued is not queued twice; paused connections are left alone.
@Suite("Sync scheduling")
struct SyncSchedulingTests {
    @Test("due connections are enqueued once per stream; paused ones are skipped")
    func schedulesDueConnections() async throws {
        let crm = FakeCRM(count: 10)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await SyncHarness.make(client: client, baseURL: "http://127.0.0.1:9", crm: crm)
            let service = SyncService(client: client, logger: harness.logger)
            #expect(try await service.enqueueDue(defaultSchedule: nil) == 1)
            let queued = try await harness.count("SELECT count(*)::int FROM jobs WHERE kind = 'sync.stream' AND state = 'available'")
            #expect(queued == 1)
            // Scheduled an hour out (the connector's hub.yaml says PT1H): nothing is due now.
            let next = try await harness.count("SELECT extract(epoch FROM next_sync_at - now())::int FROM connections WHERE id = \(harness.connection)")
            #expect((3500...3600).contains(next))
            #expect(try await service.enqueueDue(defaultSchedule: nil) == 0)

            // Due again while the first job still waits: the unique key keeps one job per stream.
            try await client.query("UPDATE connections SET next_sync_at = now() - interval '1 second' WHERE id = \(harness.connection)", logger: harness.logger)
            _ = try await service.enqueueDue(defaultSchedule: nil)
            #expect(try await harness.count("SELECT count(*)::int FROM jobs WHERE kind = 'sync.stream'") == 1)

            try await harness.connections.setStatus(connection: harness.connection, tenant: harness.tenant, status: .paused)
            try await client.query("UPDATE connections SET next_sync_at = now() - interval '1 second' WHERE id = \(harness.connection)", logger: harness.logger)
            #expect(try await service.enqueueDue(defaultSchedule: nil) == 0)
        }
    }

    @Test("a sync started while the same stream's job waits reports that job's run and leaves no orphan run")
    func startDuringScheduledSync() async throws {
        let crm = FakeCRM(count: 10)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await SyncHarness.make(client: client, baseURL: "http://127.0.0.1:9", crm: crm)
            let service = SyncService(client: client, logger: harness.logger)
            #expect(try await service.enqueueDue(defaultSchedule: nil) == 1)
            let scheduledRun = try await harness.count("SELECT min(id)::int FROM sync_runs")
            let manual = try await service.start(connection: harness.connection)
            #expect(manual.map(\.run) == [Int64(scheduledRun)])
            #expect(try await harness.count("SELECT count(*)::int FROM sync_runs") == 1)
            #expect(try await harness.count("SELECT count(*)::int FROM sync_runs WHERE job_id IS NULL") == 0)
        }
    }

    @Test("a manual sync of every stream counts as the scheduled one: the scheduler does not sync the connection again at once")
    func manualSyncDefersTheSchedule() async throws {
        let crm = FakeCRM(count: 10)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await SyncHarness.make(client: client, baseURL: "http://127.0.0.1:9", crm: crm)
            let service = SyncService(client: client, logger: harness.logger)
            // A new connection is due at once (next_sync_at NULL) until a sync of it starts.
            _ = try await service.start(connection: harness.connection)
            let next = try await harness.count("SELECT extract(epoch FROM next_sync_at - now())::int FROM connections WHERE id = \(harness.connection)")
            #expect((3500...3600).contains(next), "next scheduled sync in \(next) s")
            // The manual sync finished (its job completed): the scheduler still finds nothing due.
            try await client.query("UPDATE jobs SET state = 'completed', finalized_at = now()", logger: harness.logger)
            #expect(try await service.enqueueDue(defaultSchedule: nil) == 0)
            // A sync of chosen streams leaves the schedule alone.
            try await client.query("UPDATE connections SET next_sync_at = NULL WHERE id = \(harness.connection)", logger: harness.logger)
            _ = try await service.start(connection: harness.connection, streams: ["contacts"])
            #expect(try await harness.count("SELECT count(*)::int FROM connections WHERE id = \(harness.connection) AND next_sync_at IS NULL") == 1)
        }
    }
}
