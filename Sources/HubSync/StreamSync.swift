import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// The `sync.stream` job: pages through one stream of one connection and upserts each batch,
/// encrypted, in the same fenced transaction as the state that covers it. A crash anywhere
/// resumes from the last committed state; upserts are idempotent, so nothing is duplicated.
struct StreamSync: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let catalog: ConnectorCatalog
    let transport: any HTTPTransport
    let environment: EngineEnvironment
    let batchSize: Int
    /// Where process connectors' commands come from; nil on a worker that runs none.
    let processes: (any ProcessCommandResolver)?
    let logger: Logger

    func run(_ context: JobContext) async throws -> JobOutcome {
        let arguments = try SyncJobArguments(context.job.args)
        let syncs = SyncStore(client: client, logger: context.logger)
        let runs = RunStore(client: client, logger: context.logger)
        let info = try await ConnectionStore(client: client, logger: context.logger).connection(arguments.connection, tenant: arguments.tenant)
        guard info.status != .paused else {
            try await context.withTransaction(completing: true) { database in
                try await arguments.finish(on: database, runs: runs)
            }
            return .completed
        }
        let definition = try await catalog.definition(name: info.connector, version: info.connectorVersion)
        guard definition.streamNames.contains(arguments.stream) else {
            throw HubError(.invalidInput, "connector \(info.connector) v\(info.connectorVersion) has no stream \(arguments.stream)")
        }
        let config: PyValue
        do {
            let stored = try await configuration(info, tenant: arguments.tenant)
            // As the CDK: the spec's config migrations and transformations apply to what the read
            // sees, its validations may refuse the config, and a ConditionalStreams condition is
            // decided on the whole config (the config may also have changed since the job was queued).
            let normalized: PyValue
            do { normalized = try definition.source?.normalizedConfig(stored) ?? stored } catch let error as ManifestError {
                throw ConfigRefusal("the connection's config is refused: \(error)")
            }
            guard try definition.source?.isAvailable(arguments.stream, config: normalized) ?? true else {
                throw ConfigRefusal("stream \(arguments.stream) does not exist with this connection's config "
                                    + "(the condition of its ConditionalStreams is false)")
            }
            config = normalized
        } catch {
            // Recorded on the run and the connection; a refusal is the user's to fix, not retried.
            try? await recordFailure(error, arguments: arguments, context: context)
            throw ConfigurationFailure.classify(error)
        }
        let incremental = definition.isIncremental(arguments.stream) && !arguments.fullRefresh
        var environment = self.environment
        environment.rateLimitHandoff = true
        environment.followRedirects = definition.sidecar.followRedirects
        let reader = definition.source.map { StreamReader(source: $0, config: config, transport: transport, environment: environment) }
        if arguments.partition == nil {
            try await context.withTransaction { try await runs.startRun(on: $0, arguments.run) }
            // An incremental stream with partitions runs as one job per partition, each resuming
            // from its own state. A full pass stays one job: marking what it did not see as
            // deleted needs every partition read in one place.
            if incremental, let reader {
                do {
                    if let outcome = try await fanOut(arguments, reader: reader, definition: definition, info: info, context: context) {
                        return outcome
                    }
                } catch let limited as RateLimited {
                    return Self.snooze(limited)
                } catch {
                    try? await recordFailure(error, arguments: arguments, context: context)
                    throw ConfigurationFailure.classify(error)
                }
            }
        }
        let state: JSONValue?
        if !incremental {
            state = nil
        } else if arguments.partition != nil,
                  let own = try await syncs.state(connection: arguments.connection, stream: arguments.stream,
                                                  partition: arguments.partitionKey) {
            state = own
        } else {
            // A partition without a state of its own (new since the last pass) starts where the
            // last whole-stream pass left the stream, as the CDK's per-partition cursor does.
            state = try await syncs.state(connection: arguments.connection, stream: arguments.stream)
        }

        // Mappings see the connection's config without its credentials: no expression can copy
        // a secret into unified data.
        let unified = try await UnifiedLinking.make(definition: definition, stream: arguments.stream, tenant: arguments.tenant,
                                                    connection: arguments.connection, config: PyValue(json: info.config), client: client,
                                                    keyring: keyring, logger: context.logger)
        let batch = SyncBatch(
            arguments: arguments, definition: definition, policy: definition.recordPolicy(arguments.stream),
            writer: RecordWriter(client: client, keyring: keyring, logger: context.logger), syncs: syncs, runs: runs,
            context: context, batchSize: batchSize, trackSeen: !incremental, unified: unified
        )
        if let runtime = definition.runtime {
            do {
                return try await runProcess(arguments, definition: definition, runtime: runtime, config: config,
                                            incremental: incremental, batch: batch, state: state, context: context)
            } catch {
                try? await recordFailure(error, arguments: arguments, context: context)
                throw ConfigurationFailure.classify(error)
            }
        }
        guard let reader else { throw HubError(.internalError, "connector \(definition.name) has neither a manifest nor a runtime") }
        do {
            // Every background commit has ended when this returns, whatever the read did.
            return try await batch.withBackgroundCommits {
                do {
                    try await reader.read(stream: arguments.stream, state: state.map(PyValue.init(json:)),
                                          partition: arguments.partition.map(PyValue.init(json:))) { event in
                        try context.checkCancellation()
                        try await batch.handle(event)
                    }
                } catch let limited as RateLimited {
                    // What was read before the 429 is kept; the job resumes from the last state.
                    try await batch.flush(state: nil)
                    context.logger.info("rate limited; snoozing", metadata: ["hub.sync.retry_after": "\(limited.retryAfter)"])
                    return Self.snooze(limited)
                }
                context.logger.debug("read finished; finishing the pass")
                try await batch.finish()
                return .completed
            }
        } catch {
            try? await recordFailure(error, arguments: arguments, context: context)
            throw ConfigurationFailure.classify(error)
        }
    }

    /// A 429 hands the job back for `Retry-After` (at least a second), without using an attempt.
    static func snooze(_ limited: RateLimited) -> JobOutcome {
        .snooze(.milliseconds(RetryDelay.milliseconds(max(1, limited.retryAfter))))
    }

    /// Partitions beyond this many are read by the stream's one job, from the stream's state.
    static let maxPartitionJobs = 10_000

    /// Lists the stream's partitions (reading parent streams if it must) and, in one fenced
    /// transaction that also completes this job, enqueues a job for each. Nil when the stream
    /// has no partitions to fan out, so this job reads it itself.
    private func fanOut(_ arguments: SyncJobArguments, reader: StreamReader, definition: ConnectorDefinition,
                        info: ConnectionStore.ConnectionInfo, context: JobContext) async throws -> JobOutcome? {
        guard let listed = try await reader.partitions(of: arguments.stream) else { return nil }
        var seen = Set<String>()
        let partitions = listed.map(\.json).map(arguments.narrowed(to:)).filter { seen.insert($0.partitionKey).inserted }
        guard partitions.count <= Self.maxPartitionJobs else {
            context.logger.notice("too many partitions for a job each; reading them in one job", metadata: [
                "hub.sync.stream": "\(arguments.stream)", "hub.sync.partitions": "\(partitions.count)",
            ])
            return nil
        }
        try context.checkCancellation()
        let queue = JobQueue(client: client, logger: context.logger)
        let runs = RunStore(client: client, logger: context.logger)
        try await context.withTransaction(completing: true) { database in
            var jobs: [(key: String, job: Int64)] = []
            for partition in partitions {
                let job = try await queue.enqueue(SyncService.jobRequest(partition, definition: definition, info: info, uniqueKey: nil),
                                                  on: database)
                jobs.append((key: partition.partitionKey, job: job))
            }
            try await runs.addPartitions(on: database, run: arguments.run, partitions: jobs)
            if jobs.isEmpty { try await runs.finishRun(on: database, run: arguments.run, connection: arguments.connection) }
        }
        context.logger.info("sync split by partition", metadata: [
            "hub.sync.stream": "\(arguments.stream)", "hub.sync.partitions": "\(partitions.count)",
        ])
        return .completed
    }

    /// Leaves a failure on the run and the connection. A partition's last failure settles the
    /// partition; the run closes, failed, once every partition is settled.
    private func recordFailure(_ error: any Error, arguments: SyncJobArguments, context: JobContext) async throws {
        // A cancelled job's task is cancelled too, and its queries would fail at once: the
        // record is written from a task of its own.
        try await uncancellable { try await self.record(error, arguments: arguments, context: context) }
    }

    /// Every write here is fenced by the job's attempt: an attempt that lost its lease
    /// without noticing yet (paused, partitioned) must not record its failure over the run
    /// that the attempt holding the job is writing; the conflict error it gets is dropped.
    private func record(_ error: any Error, arguments: SyncJobArguments, context: JobContext) async throws {
        let runs = RunStore(client: client, logger: context.logger)
        if context.isCancellationRequested {
            let cancelled: JSONValue = ["message": "cancelled on request", "stream": .string(arguments.stream)]
            try await context.withTransaction { database in
                if arguments.partition != nil {
                    try await runs.failPartition(on: database, run: arguments.run, partition: arguments.partitionKey,
                                                  connection: arguments.connection, error: cancelled, recordOnConnection: false)
                } else {
                    try await runs.cancelRun(on: database, arguments.run)
                }
            }
            return
        }
        // A lost lease or a shutdown hands the job to another attempt: not a failure of the sync.
        if context.isCancelled { return }
        let described = Self.describe(error, stream: arguments.stream, attempt: context.job.attempt)
        let final = context.job.attempt >= context.job.maxAttempts || ConfigurationFailure.classify(error) is ConfigurationFailure
        try await context.withTransaction { database in
            if arguments.partition != nil, final {
                try await runs.failPartition(on: database, run: arguments.run, partition: arguments.partitionKey,
                                              connection: arguments.connection, error: described)
            } else {
                try await runs.failRun(on: database, arguments.run, connection: arguments.connection, error: described, final: final)
            }
        }
    }

    /// The connection's stored config with its decrypted credentials merged in.
    private func configuration(_ info: ConnectionStore.ConnectionInfo, tenant: TenantID) async throws -> PyValue {
        var config = PyValue(json: info.config)
        let sealed = try await ConnectionStore(client: client, keyring: keyring, logger: logger)
            .credentials(for: info)
        if !sealed.revealed.isEmpty {
            guard case .dict(let credentials) = try PyValue.parseJSON(sealed.revealed), case .dict(var merged) = config else {
                throw HubError(.invalidInput, "connection \(info.id)'s credentials are not a JSON object")
            }
            for (key, value) in credentials.entries { merged[key] = value }
            config = .dict(merged)
        }
        return config
    }

    /// What a failure leaves on the run and the connection: what failed, where, the HTTP status.
    static func describe(_ error: any Error, stream: String, attempt: Int) -> JSONValue {
        var fields: [String: JSONValue] = ["stream": .string(stream), "attempt": .number(Double(attempt))]
        switch error {
        case let failure as RequestFailure:
            fields["message"] = .string(failure.message)
            fields["manifest_path"] = .string(failure.path.description)
            if let status = failure.status { fields["http_status"] = .number(Double(status)) }
        case let failure as ManifestError:
            fields["message"] = .string(failure.message)
            fields["manifest_path"] = .string(failure.path.description)
        case let failure as HubError:
            fields["message"] = .string(failure.message)
            fields["code"] = .string(failure.code.rawValue)
        default:
            fields["message"] = .string(String(describing: error))
        }
        return .object(fields)
    }
}
