import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// Starts syncs: one job per stream of a connection, each with its run record. The same
/// path serves the CLI, the API and the scheduler.
public struct SyncService: Sendable {
    let client: PostgresClient
    let logger: Logger
    let catalog: ConnectorCatalog

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        self.catalog = ConnectorCatalog(store: ConnectorStore(client: client, logger: logger))
    }

    public struct Started: Sendable {
        public let stream: String
        public let run: Int64
        public let job: Int64
    }

    /// Enqueues the connection's streams (or the named ones). A stream whose sync is already
    /// queued or running is not enqueued twice: its existing job is returned.
    public func start(connection: UUID, tenant: TenantID? = nil, streams requested: [String]? = nil,
                      fullRefresh: Bool = false) async throws -> [Started] {
        try await start(connection: connection, tenant: tenant, streams: requested, fullRefresh: fullRefresh, reschedule: true)
    }

    /// `reschedule`: a sync of every stream sets the next scheduled time (the scheduler's own
    /// pass sets it itself, with the worker's default schedule too).
    func start(connection: UUID, tenant: TenantID?, streams requested: [String]?, fullRefresh: Bool,
               reschedule: Bool) async throws -> [Started] {
        let connections = ConnectionStore(client: client, logger: logger)
        let runs = RunStore(client: client, logger: logger)
        let info = try await connections.connection(connection, tenant: tenant)
        let definition = try await catalog.definition(name: info.connector, version: info.connectorVersion)
        let available = definition.streamNames(config: PyValue(json: info.config))
        let streams = requested ?? available
        for stream in streams where !definition.streamNames.contains(stream) {
            throw HubError(.invalidInput, "connector \(info.connector) has no stream \(stream); it has \(definition.streamNames.joined(separator: ", "))")
        }
        for stream in streams where !available.contains(stream) {
            throw HubError(.invalidInput, "stream \(stream) of connector \(info.connector) does not exist with this connection's config "
                           + "(the condition of its ConditionalStreams is false)")
        }
        let queue = JobQueue(client: client, logger: logger)
        var started: [Started] = []
        for stream in streams {
            // A sync whose partition jobs are still at work is still this stream's sync: its
            // own job has finished, so the unique key below would not see it.
            if let open = try await runs.openPartitionedRun(connection: connection, stream: stream),
               try await queue.activeCount(open.partitionJobs) > 0 {
                started.append(Started(stream: stream, run: open.run, job: open.job))
                continue
            }
            let run = try await runs.createRun(tenant: info.tenant, connection: connection, stream: stream,
                                                fullRefresh: fullRefresh, jobID: nil)
            let arguments = SyncJobArguments(tenant: info.tenant, connection: connection, stream: stream,
                                             fullRefresh: fullRefresh, run: run)
            let job = try await queue.enqueue(Self.jobRequest(
                arguments, definition: definition, info: info,
                uniqueKey: "sync:\(connection.uuidString.lowercased()):\(stream)"
            ))
            // An active job with this key already existed (the scheduler and a manual trigger can
            // race): that job runs its own run, so the one made here is dropped, not left queued.
            let owner = try await queue.job(job).args["run"].flatMap { if case .number(let n) = $0 { Int64(n) } else { nil } }
            if let owner, owner != run {
                try await runs.discardRun(run)
                started.append(Started(stream: stream, run: owner, job: job))
            } else {
                try await runs.attachJob(run: run, job: job)
                started.append(Started(stream: stream, run: run, job: job))
            }
        }
        // A sync of every stream counts as the scheduled one: the scheduler's next pass must not
        // find the connection due and sync it all again right after.
        if reschedule, requested == nil, let seconds = Self.scheduleSeconds(info.scheduleSeconds, definition: definition, fallback: nil) {
            try await connections.scheduleNext(connection: connection, afterSeconds: seconds)
        }
        return started
    }

    /// The connection's schedule in seconds: its own, else its connector's `hub.yaml`, else the
    /// worker's default; nil for none.
    static func scheduleSeconds(_ own: Int?, definition: ConnectorDefinition?, fallback: Duration?) -> Int? {
        own ?? definition?.sidecar.schedule.map { Int($0.totalSeconds) + $0.months * 30 * 86_400 } ?? fallback.map { Int($0.inSeconds) }
    }

    /// A stream sync's job, or one partition's: in the connection's account group when the
    /// connector caps how many of an account's syncs run at once.
    static func jobRequest(_ arguments: SyncJobArguments, definition: ConnectorDefinition, info: ConnectionStore.ConnectionInfo,
                           uniqueKey: String?) -> JobRequest {
        let account = info.externalAccount.isEmpty ? info.id.uuidString.lowercased() : info.externalAccount
        // A stream of a manifest's blocking stream group runs alone among its group's streams
        // of this connection (one at a time, partitions included); its group then takes the
        // place of the account's slots for it, a job having one group.
        if let group = definition.source?.blockingGroups[arguments.stream] {
            return JobRequest(
                kind: SyncJobArguments.kind, queue: SyncJobArguments.queue, args: arguments.json, maxAttempts: 5,
                uniqueKey: uniqueKey, groupKey: "streams:\(info.tenant):\(info.id.uuidString.lowercased()):\(group)", groupLimit: 1
            )
        }
        return JobRequest(
            kind: SyncJobArguments.kind, queue: SyncJobArguments.queue, args: arguments.json, maxAttempts: 5,
            uniqueKey: uniqueKey,
            // The account is the tenant's word for it: two tenants naming the same account share
            // no slots, so neither can hold the other's syncs back.
            groupKey: definition.sidecar.accountConcurrency.map { _ in "account:\(info.tenant):\(info.connector):\(account)" },
            groupLimit: definition.sidecar.accountConcurrency
        )
    }

    /// The scheduler's pass: enqueues every due connection and sets its next time.
    func enqueueDue(defaultSchedule: Duration?) async throws -> Int {
        let connections = ConnectionStore(client: client, logger: logger)
        var count = 0
        for due in try await connections.dueConnections(limit: 500) {
            let definition = try? await catalog.definition(name: due.connector, version: due.connectorVersion)
            let seconds = Self.scheduleSeconds(due.scheduleSeconds, definition: definition, fallback: defaultSchedule)
            if definition != nil, seconds != nil {
                do {
                    count += try await start(connection: due.id, tenant: due.tenant, streams: nil, fullRefresh: false,
                                             reschedule: false).count
                } catch {
                    logger.warning("could not start a scheduled sync", metadata: [
                        "hub.connection": "\(due.id)", "hub.error": "\(error)",
                    ])
                }
            }
            try await connections.scheduleNext(connection: due.id, afterSeconds: seconds)
        }
        return count
    }
}
