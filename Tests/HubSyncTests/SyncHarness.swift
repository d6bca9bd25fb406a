import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import HubSync
import Logging
import PostgresNIO
import TributaryTestSupport

/// A migrated database with a tenant, the fake CRM's connector registered, and one
/// connection to the running fake — what every sync test starts from.
struct SyncHarness: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let tenant: TenantID
    let connection: UUID
    /// Where the worker gets process connectors' commands.
    var processes: (any ProcessCommandResolver)?
    var logger: Logger { TestDatabase.logger }

    static func make(
        client: PostgresClient, baseURL: String, crm: FakeCRM, manifest: String = FakeCRM.manifest,
        sidecar: String = FakeCRM.sidecar, kek: (any KeyEncryptionKeyProvider)? = nil, tenant existing: TenantID? = nil
    ) async throws -> SyncHarness {
        let logger = TestDatabase.logger
        // TRIBUTARY_TEST_VAULT=split: keys and credentials in a vault database of their own.
        let vault = try await TestDatabase.vault(for: client)
        let keyring = Keyring(kek: try kek ?? TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
        var tenant: TenantID
        if let existing { tenant = existing } else { tenant = try await TenantStore(client: client, logger: logger).create(name: "sync test").id }
        let name = "crm-\(UUID().uuidString.prefix(8).lowercased())"
        let definition = try ConnectorDefinition(name: name, manifest: manifest, sidecar: sidecar)
        let (version, _) = try await ConnectorStore(client: client, logger: logger)
            .register(name: name, manifest: definition.manifestText, sidecar: definition.sidecarText)
        let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
            tenant: tenant, connector: name, connectorVersion: version, externalAccount: "acct-1",
            config: ["base_url": .string(baseURL), "start_date": .string("2023-01-01T00:00:00Z")],
            credentials: Secret(Array(#"{"api_key":"\#(crm.token)"}"#.utf8))
        )
        return SyncHarness(client: client, keyring: keyring, tenant: tenant, connection: connection)
    }

    var syncs: SyncStore { SyncStore(client: client, logger: logger) }
    var runs: RunStore { RunStore(client: client, logger: logger) }
    var connections: ConnectionStore { ConnectionStore(client: client, logger: logger) }

    /// Starts a sync of the connection and runs an in-process worker until every run ends.
    func sync(fullRefresh: Bool = false, timeout: Duration = .seconds(60),
              requestTimeout: Duration = .seconds(30)) async throws -> [RunStore.Run] {
        let started = try await SyncService(client: client, logger: logger).start(connection: connection, fullRefresh: fullRefresh)
        return try await runWorker(until: started.map(\.run), timeout: timeout, requestTimeout: requestTimeout)
    }

    func runWorker(until runs: [Int64], timeout: Duration, requestTimeout: Duration = .seconds(30)) async throws -> [RunStore.Run] {
        let runStore = self.runs
        return try await withWorker(requestTimeout: requestTimeout) {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let current = try await runStore.runs(ids: runs)
                if current.allSatisfy(\.status.isFinal) { return current }
                try await Task.sleep(for: .milliseconds(100))
            }
            return try await runStore.runs(ids: runs)
        }
    }

    /// Runs an in-process worker until every job in `ids` is final (or `timeout`); returns them.
    func runWorker(untilJobs ids: [Int64], timeout: Duration = .seconds(60)) async throws -> [JobRecord] {
        let queue = JobQueue(client: client, logger: logger)
        return try await withWorker(requestTimeout: .seconds(30)) {
            let deadline = ContinuousClock.now + timeout
            var jobs: [JobRecord] = []
            while ContinuousClock.now < deadline {
                jobs = []
                for id in ids { jobs.append(try await queue.job(id)) }
                if jobs.allSatisfy({ [.completed, .discarded, .cancelled].contains($0.state) }) { return jobs }
                try await Task.sleep(for: .milliseconds(100))
            }
            return jobs
        }
    }

    /// Runs `body` beside an in-process worker of the sync queue.
    private func withWorker<T: Sendable>(requestTimeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let handlers = SyncJobs.handlers(client: client, keyring: keyring, logger: logger, transport: LoopbackEgress.transport,
                                         environment: EngineEnvironment(sleep: { _ in }, requestTimeout: requestTimeout), batchSize: 250,
                                         processes: processes)
        let worker = WorkerPool(
            client: client,
            configuration: WorkerConfiguration(queues: [.init(name: SyncJobs.queue, slots: 2, grouped: true)],
                                               pollInterval: .milliseconds(100)),
            handlers: handlers, logger: logger
        )
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await worker.run(); return nil }
            group.addTask { try await body() }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    func count(_ sql: PostgresQuery) async throws -> Int {
        let rows = try await client.query(sql, logger: logger)
        for try await value in rows.decode(Int.self) { return value }
        return 0
    }
}
