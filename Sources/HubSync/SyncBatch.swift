import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubQueue
import HubStore
import Logging

/// Collects a stream's records and commits them in batches: a batch alone keeps the last
/// committed state (resuming re-reads it, and upserts are idempotent); a state event commits
/// the records it covers together with it, after every earlier batch has committed. Batches
/// commit in the background, a few at once, while the next pages are read: in a
/// lane whose tasks are children of `withBackgroundCommits`, so none outlives the sync.
actor SyncBatch {
    let arguments: SyncJobArguments
    let identity: RecordIdentity
    let policy: RecordPolicy
    let writer: RecordWriter
    let syncs: SyncStore
    let runs: RunStore
    let context: JobContext
    let batchSize: Int
    /// A full pass remembers every id it saw, to mark the rest deleted at the end.
    let trackSeen: Bool
    /// The models this stream's records map into (empty for most streams: then nothing of the
    /// unified layer runs).
    let unified: UnifiedLinking?

    private var pending: [RecordWriter.Input] = []
    /// The records as read, for the unified mappings (kept only when the stream has some).
    private var pendingRaw: [PyValue] = []
    private var pendingPages = 0
    private var pendingRead = 0
    private var seen: Set<String> = []
    /// Why the pass is not whole, when it isn't: then nothing is marked deleted.
    private var cutShort: String?
    private var recordNumber = 0
    /// Batches handed to the lane so far (for the debug log of each batch's steps).
    private var batchNumber = 0
    /// Batches committing at once; each holds a database connection.
    static let maxInFlight = 2
    private let lane = CommitLane(width: SyncBatch.maxInFlight)

    init(arguments: SyncJobArguments, definition: ConnectorDefinition, policy: RecordPolicy, writer: RecordWriter,
         syncs: SyncStore, runs: RunStore, context: JobContext, batchSize: Int, trackSeen: Bool, unified: UnifiedLinking? = nil) {
        self.unified = unified
        self.arguments = arguments
        self.identity = RecordIdentity(definition: definition, stream: arguments.stream)
        self.policy = policy
        self.writer = writer
        self.syncs = syncs
        self.runs = runs
        self.context = context
        self.batchSize = batchSize
        self.trackSeen = trackSeen
    }

    /// Runs `body` (the read, and this batch's `handle`, `flush` and `finish`) beside the lane
    /// that commits batches in the background, and returns once every background commit has
    /// ended, whether `body` succeeded or not (what committed stays: upserts are idempotent).
    nonisolated func withBackgroundCommits<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let outcome = await withTaskGroup(of: Void.self) { group -> Result<T, any Error> in
            group.addTask { await self.lane.run() }
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await body())
            } catch {
                outcome = .failure(error)
            }
            lane.close()
            await group.waitForAll()
            return outcome
        }
        return try outcome.get()
    }

    func handle(_ event: SourceEvent) async throws {
        switch event {
        case .record(_, let data):
            try add(data)
            if pending.count >= batchSize { try await flush(state: nil) }
        case .records(_, let records):
            for record in records {
                try add(record)
                if pending.count >= batchSize { try await flush(state: nil) }
            }
        case .state(_, let state):
            // The no-cursor marker is the CDK's; a full-refresh stream keeps no state.
            if case .dict(let dict) = state, dict["__ab_no_cursor_state_message"] != nil { return }
            try await flush(state: state.json)
        case .page:
            pendingPages += 1
        case .cutShort(_, let reason):
            cutShort = reason
        case .started, .running, .rateLimited, .complete, .incomplete:
            break
        }
    }

    private func add(_ data: PyValue) throws {
        recordNumber += 1
        guard case .object(let fields) = data.json else {
            throw HubError(.invalidInput, "record \(recordNumber) of stream \(arguments.stream) is not a JSON object")
        }
        let input = try identity.input(fields, describing: "record \(recordNumber)")
        if trackSeen { seen.insert(input.externalID) }
        pending.append(input)
        if unified != nil { pendingRaw.append(data) }
        pendingRead += 1
    }

    /// Commits pending records, with `state` when given, through the job's fence, in the
    /// background; a batch with a state after every earlier batch.
    func flush(state: JSONValue?) async throws {
        guard !pending.isEmpty || state != nil || pendingPages > 0 else { return }
        let records = pending, raw = pendingRaw, pages = pendingPages, read = pendingRead
        pending = []
        pendingRaw = []
        pendingPages = 0
        pendingRead = 0
        let arguments = self.arguments, policy = self.policy, writer = self.writer, syncs = self.syncs, runs = self.runs, context = self.context, job = self.context.job
        let unified = self.unified
        batchNumber += 1
        let batch = batchNumber
        let commit: @Sendable () async throws -> Void = {
            // Each step at debug level: a batch that never commits (a hang after a database
            // restart, scripts/cluster-test) shows where it stopped.
            let logger = context.logger
            func step(_ what: String) { logger.debug("batch \(what)", metadata: ["hub.sync.batch": "\(batch)"]) }
            step("preparing")
            // Sealed before the transaction: preparing may read keys through the pool, which must
            // not happen while this batch holds a connection (a full pool would deadlock).
            let prepared = try await writer.prepare(tenant: arguments.tenant, connection: arguments.connection,
                                                    stream: arguments.stream, records: records, policy: policy)
            let sources = try await unified?.prepare(records: records, raw: raw) ?? []
            step("prepared")
            try await context.withTransaction(isolation: nil) { database in
                step("fenced")
                // A statement written to a connection that has just closed never completes
                // (postgres-nio 1.33): checked right before each one. A small window is left
                // (docs/deploy.md, "One hang remains").
                try database.ensureOpen()
                let written = try await writer.run(prepared, on: database)
                step("written")
                try await unified?.link(sources, on: database)
                if let state {
                    try await syncs.saveState(on: database, tenant: arguments.tenant, connection: arguments.connection,
                                              stream: arguments.stream, partition: arguments.partitionKey, state: state)
                }
                try database.ensureOpen()
                try await runs.addProgress(on: database, run: arguments.run, job: job.id, attempt: job.attempt,
                                            read: read, written: written, pages: pages)
                step("counted")
            }
            step("committed")
        }
        // A batch with a state commits after every earlier batch, in the background like the
        // others: the read goes on meanwhile (a source blocked on a full pipe while its state
        // commits would sit idle), and a crash still resumes from a state whose records are in.
        try await lane.submit(ordered: state != nil, commit)
    }

    /// The last batch, deletions after a full pass, the run's success and the job's completion:
    /// one transaction.
    func finish() async throws {
        try await lane.drain()
        context.logger.debug("batches drained; committing the last one")
        let records = pending, raw = pendingRaw, pages = pendingPages, read = pendingRead
        let arguments = self.arguments, policy = self.policy, writer = self.writer, runs = self.runs, job = self.context.job
        let unified = self.unified
        if trackSeen, let cutShort {
            context.logger.warning("full refresh read only part of the stream; no record is marked deleted",
                                   metadata: ["hub.sync.stream": "\(arguments.stream)", "hub.sync.reason": "\(cutShort)"])
        }
        let seen = trackSeen && cutShort == nil ? Array(self.seen) : nil
        let prepared = try await writer.prepare(tenant: arguments.tenant, connection: arguments.connection,
                                                stream: arguments.stream, records: records, policy: policy)
        let sources = try await unified?.prepare(records: records, raw: raw) ?? []
        try await context.withTransaction(completing: true) { database in
            let written = try await writer.run(prepared, on: database)
            try await unified?.link(sources, on: database)
            try await runs.addProgress(on: database, run: arguments.run, job: job.id, attempt: job.attempt,
                                            read: read, written: written, pages: pages)
            if let seen {
                let deleted = try await writer.markUnseenDeleted(on: database, tenant: arguments.tenant, connection: arguments.connection,
                                                                 stream: arguments.stream, seen: seen)
                try await runs.recordDeleted(on: database, run: arguments.run, count: deleted.count)
                // What the source no longer has leaves its entities (which may split).
                if unified != nil {
                    try await EntityStore(logger: context.logger).unlink(on: database, tenant: arguments.tenant, connection: arguments.connection,
                                                                        stream: arguments.stream, externalIDs: deleted)
                }
            }
            try await arguments.finish(on: database, runs: runs)
        }
        context.logger.debug("pass committed")
        pending = []
        pendingRaw = []
    }
}
