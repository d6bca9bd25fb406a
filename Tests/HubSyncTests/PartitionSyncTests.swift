import Foundation
import HubCore
import HubDatabase
import HubQueue
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// An incremental stream with a partition router syncs as one job per partition, each from
/// its own state, under one run that closes when the last partition settles.
@Suite("Partitioned sync")
struct PartitionSyncTests {
    @Test("each partition is its own job with its own state, and the next sync resumes each from it")
    func onePartitionOneJob() async throws {
        let crm = FakeCRM(count: 900)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, manifest: FakeCRM.partitionedManifest)
                let runs = try await harness.sync()
                #expect(runs.map(\.status) == [.succeeded], "\(runs.map { $0.error ?? "" })")
                #expect(runs.first?.recordsRead == 900)
                #expect(runs.first?.recordsWritten == 900)
                #expect(runs.first?.partitions == 3)
                #expect(runs.first?.partitionsSettled == 3)
                let partitionJobs = try await harness.count(
                    "SELECT count(*)::int FROM jobs WHERE kind = 'sync.stream' AND args ? 'partition' AND state = 'completed'")
                #expect(partitionJobs == 3)
                #expect(try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)") == 900)

                // Contact n is updated at minute n; segment s holds the contacts with n % 3 == s.
                let syncs = harness.syncs
                for (segment, newest) in [("0", "15:00"), ("1", "14:58"), ("2", "14:59")] {
                    let key = JSONValue.object(["segment": .string(segment)]).canonicalJSON
                    let state = try await syncs.state(connection: harness.connection, stream: "contacts", partition: key)
                    #expect(state == .object(["updated_at": .string("2024-01-01T\(newest):00Z")]), "segment \(segment)")
                }
                #expect(try await syncs.state(connection: harness.connection, stream: "contacts") == nil)

                // The next sync: every partition asks from its own state; only segment 1 changed.
                crm.update(4, version: 1)
                let before = crm.requestLog.count
                let second = try await harness.sync()
                #expect(second.map(\.status) == [.succeeded])
                // Each partition re-reads its inclusive boundary record; c4 is the one change.
                #expect(second.first?.recordsRead == 4)
                #expect(second.first?.recordsWritten == 1)
                let asked = Dictionary(crm.requestLog.dropFirst(before).map { ($0["segment"] ?? "", $0["updated_since"] ?? "") },
                                       uniquingKeysWith: { first, _ in first })
                #expect(asked == ["0": "2024-01-01T15:00:00Z", "1": "2024-01-01T14:58:00Z", "2": "2024-01-01T14:59:00Z"])
            }
        }
    }

    @Test("a sync started while the partition jobs run joins their run instead of starting another")
    func startDuringPartitions() async throws {
        let crm = FakeCRM(count: 30)
        // The first partition's first page is slow, so the run is still open below.
        crm.inject(.delay(.seconds(3)), atRequest: 1)
        let url = try await TestDatabase.makeMigratedDatabase()
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, manifest: FakeCRM.partitionedManifest)
                let service = SyncService(client: client, logger: harness.logger)
                let first = try await service.start(connection: harness.connection)
                let worker = Task { try await harness.runWorker(until: first.map(\.run), timeout: .seconds(60)) }
                defer { worker.cancel() }
                let deadline = ContinuousClock.now + .seconds(30)
                var fanned = 0
                while fanned == 0, ContinuousClock.now < deadline {
                    fanned = try await harness.count("SELECT count(*)::int FROM sync_run_partitions WHERE status = 'queued'")
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(fanned > 0, "the stream job never split into partition jobs")
                let second = try await service.start(connection: harness.connection)
                #expect(second.map(\.run) == first.map(\.run))
                let runs = try await worker.value
                #expect(runs.map(\.status) == [.succeeded], "\(runs.map { $0.error ?? "" })")
                #expect(try await harness.count("SELECT count(*)::int FROM sync_runs WHERE connection_id = \(harness.connection)") == 1)
                #expect(try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)") == 30)
            }
        }
    }

    @Test("partitions settled at once close their run exactly once, failed if any partition failed")
    func settlingRace() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let harness = try await SyncHarness.make(client: client, baseURL: "http://127.0.0.1:9", crm: FakeCRM(count: 1),
                                                     manifest: FakeCRM.partitionedManifest)
            let runStore = harness.runs
            for failing in [nil, 7] as [Int?] {
                let run = try await runStore.createRun(tenant: harness.tenant, connection: harness.connection, stream: "contacts",
                                                    fullRefresh: false, jobID: 1)
                try await client.withConnection { database in
                    try await runStore.addPartitions(on: database, run: run, partitions: (0..<12).map { (key: "p\($0)", job: Int64($0)) })
                }
                let closings = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for index in 0..<12 {
                        group.addTask {
                            try await client.withTransaction(logger: harness.logger) { database in
                                try await runStore.settlePartition(on: database, run: run, partition: "p\(index)",
                                                                connection: harness.connection, succeeded: index != failing)
                            }
                        }
                    }
                    return try await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                #expect(closings.filter { $0 }.count == 1)
                let status = try await runStore.runs(ids: [run]).first?.status
                #expect(status == (failing == nil ? .succeeded : .failed))
            }
        }
    }
}
