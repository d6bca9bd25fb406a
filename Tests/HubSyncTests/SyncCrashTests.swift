import Foundation
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// Worker processes (`tributary serve --role worker`) killed mid-sync: another finishes the
/// stream, and the store holds every record exactly once with the state at the end.
@Suite("Sync crash recovery")
struct SyncCrashTests {
    @Test("kill -9 of the worker mid-sync of 50,000 records: another worker completes it exactly once")
    func killedWorkerIsReplaced() async throws {
        let crm = FakeCRM(count: 50_000, pageDelay: .milliseconds(40))
        let url = try await TestDatabase.makeMigratedDatabase()
        let keyText = LocalKeyEncryptionKey.generateBase64()
        let kek = try LocalKeyEncryptionKey(base64: keyText, source: "test key")
        try await crm.makeServer().withRunning { baseURL in
            try await TestDatabase.withClient(url) { client in
                let harness = try await SyncHarness.make(client: client, baseURL: baseURL, crm: crm, kek: kek)
                let environment: [String: String] = [
                    "TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY": keyText.revealed,
                    "TRIBUTARY_WORKER_QUEUES": "sync:2", "TRIBUTARY_JOB_LEASE_SECONDS": "3", "TRIBUTARY_LOG_LEVEL": "warning",
                    "TRIBUTARY_EGRESS_ALLOW": LoopbackEgress.allowList,
                ].merging(try await TestDatabase.vaultEnvironment()) { $1 }
                let first = try TributaryProcess(["serve", "--role", "worker"], environment: environment)
                let run = try #require(try await SyncService(client: client, logger: harness.logger)
                    .start(connection: harness.connection).first)

                // Mid-sync: some batches committed, most of the stream still to come.
                let read = try await eventually(timeout: .seconds(30), every: .milliseconds(50),
                                                { try await harness.runs.runs(ids: [run.run]).first?.recordsRead ?? 0 }, until: { $0 >= 5_000 })
                #expect(read >= 5_000, "the first worker never got going: \(first.standardError)")
                first.signal(SIGKILL)
                _ = await first.waitForExit(timeout: .seconds(10))
                let committedAtKill = try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)")
                #expect(committedAtKill < 50_000)
                let readAtKill = try #require(try await harness.runs.runs(ids: [run.run]).first).recordsRead

                let second = try TributaryProcess(["serve", "--role", "worker"], environment: environment)
                defer { second.signal(SIGTERM) }
                let finished = try await eventually(timeout: .seconds(120), { try await harness.runs.runs(ids: [run.run]).first },
                                                    until: { $0.map { [.succeeded, .failed].contains($0.status) } ?? false })
                #expect(finished?.status == .succeeded, "\(finished?.error ?? "still running"); \(second.standardError)")
                let total = try await harness.count("SELECT count(*)::int FROM records WHERE connection_id = \(harness.connection)")
                let distinct = try await harness.count("SELECT count(DISTINCT external_id)::int FROM records WHERE connection_id = \(harness.connection)")
                #expect(total == 50_000)
                #expect(distinct == 50_000)
                let state = try await harness.syncs.state(connection: harness.connection, stream: "contacts")
                let last = FakeCRM.contact(50_000, version: 0)["updated_at"]!
                #expect(state == .object(["updated_at": .string(last)]))
                // The killed attempt is in the job's history; the second attempt completed it.
                let attempt = try await harness.count("SELECT attempt FROM jobs WHERE id = \(run.job) AND state = 'completed'")
                #expect(attempt == 2)
                // The run's totals add both attempts; the final attempt's own figures stand beside them.
                let figures = try #require(finished?.attempts)
                #expect(figures.count == 2)
                #expect(figures.lastRead + readAtKill == finished?.recordsRead, "\(figures), killed at \(readAtKill)")
                #expect(figures.lastRead >= Int64(50_000 - committedAtKill))
                #expect(figures.lastRead <= 50_000)
            }
        }
    }
}
