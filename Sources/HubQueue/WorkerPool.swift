import Foundation
import HubCore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Runs jobs: claims them in batches, runs up to `slots` per queue at once, keeps their leases
/// alive, and on graceful shutdown stops claiming, lets running jobs finish within the grace
/// period and hands the rest back for other workers.
public final class WorkerPool: Service {
    let client: PostgresClient
    let queue: JobQueue
    let configuration: WorkerConfiguration
    let handlers: [String: JobHandler]
    let logger: Logger

    /// The jobs running here, registered when claimed, removed when finished.
    let running = Mutex<[Int64: JobContext]>([:])
    /// Cancel requests heard for jobs not (yet) running here: a job is claimed and committed a
    /// moment before this worker registers it, and a cancel heard in between must not be lost.
    let unmatchedCancels = Mutex<[Int64]>([])
    let doorbells: [String: Doorbell]
    let completions: CompletionBuffer
    let stopping = Atomic<Bool>(false)
    /// Rung whenever a job finishes: the drain waits on it instead of polling.
    let finished = Doorbell()

    public init(client: PostgresClient, configuration: WorkerConfiguration, handlers: [String: JobHandler], logger: Logger) {
        self.client = client
        self.queue = JobQueue(client: client, logger: logger)
        self.configuration = configuration
        self.handlers = handlers
        var logger = logger
        logger[metadataKey: "hub.worker"] = "\(configuration.owner)"
        self.logger = logger
        let doorbells = Dictionary(uniqueKeysWithValues: configuration.queues.map { ($0.name, Doorbell()) })
        self.doorbells = doorbells
        // Completed jobs free their group's slots only once written: wake grouped dispatchers then.
        let grouped = configuration.queues.filter(\.grouped).compactMap { doorbells[$0.name] }
        self.completions = CompletionBuffer(queue: queue, logger: logger) { for doorbell in grouped { doorbell.ring() } }
    }

    /// Runs until graceful shutdown: the helpers (NOTIFY, leases, rescue, completions), one
    /// dispatcher per queue, and every job, all in one task tree. Jobs are children of a task
    /// group (claimed jobs reach it through a stream), so none outlives the pool.
    public func run() async throws {
        let kinds = handlers.keys.sorted()
        logger.info("worker started", metadata: ["hub.queues": "\(configuration.queues.map(\.name))", "hub.kinds": "\(kinds)"])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { helpers in
                helpers.addTask { await self.listen() }
                helpers.addTask { await self.renewLeasesPeriodically() }
                helpers.addTask { await self.rescuePeriodically() }
                helpers.addTask { await self.completions.run(batch: self.configuration.completionBatch, delay: self.configuration.completionDelay) }
                let (claimed, claims) = AsyncStream<JobContext>.makeStream()
                let unfinished = await withDiscardingTaskGroup { jobs -> [ClaimedJob] in
                    jobs.addTask {
                        await withDiscardingTaskGroup { dispatchers in
                            for settings in self.configuration.queues {
                                dispatchers.addTask { await self.dispatch(settings, kinds: kinds, claims: claims) }
                            }
                        }
                        // Dispatchers return once stopping: no job is claimed after this.
                        claims.finish()
                    }
                    for await context in claimed {
                        jobs.addTask { await self.runJob(context) }
                    }
                    return await self.drainRunningJobs()
                }
                // Every job has returned: hand back the ones stopped by the shutdown.
                await self.handBack(unfinished)
                await self.completions.flushAndStop()
                helpers.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            for doorbell in self.doorbells.values { doorbell.ring() }
        }
        logger.info("worker stopped")
    }

    /// Claims and starts jobs of one queue while there is room, until shutdown.
    private func dispatch(_ settings: WorkerConfiguration.Queue, kinds: [String], claims: AsyncStream<JobContext>.Continuation) async {
        guard let doorbell = doorbells[settings.name], !kinds.isEmpty else { return }
        while !stopping.load(ordering: .relaxed), !Task.isCancelled {
            let free = settings.slots - running.withLock { $0.values.filter { $0.job.queue == settings.name }.count }
            guard free > 0 else {
                await doorbell.wait(timeout: configuration.pollInterval)
                continue
            }
            let wanted = min(free, settings.batch)
            do {
                let claimStarted = ContinuousClock.now
                let claimed = try await queue.claim(
                    queue: settings.name, kinds: kinds, limit: wanted, owner: configuration.owner, lease: configuration.lease,
                    grouped: settings.grouped
                )
                if !claimed.isEmpty { QueueMetrics.claimed(claimed.count, queue: settings.name, duration: ContinuousClock.now - claimStarted) }
                for job in claimed { start(job, claims: claims) }
                if claimed.count < wanted { await doorbell.wait(timeout: configuration.pollInterval) }
            } catch {
                logger.error("claiming failed; retrying", metadata: ["hub.queue": "\(settings.name)", "hub.error": "\(error)"])
                await doorbell.wait(timeout: configuration.pollInterval)
            }
        }
    }

    /// Registers a claimed job (so that it counts against the queue's slots at once) and hands
    /// it to the pool's job group.
    private func start(_ job: ClaimedJob, claims: AsyncStream<JobContext>.Continuation) {
        let context = JobContext(job: job, client: client, logger: logger)
        running.withLock { $0[job.id] = context }
        claims.yield(context)
        let cancelled = unmatchedCancels.withLock { ids in
            guard let index = ids.firstIndex(of: job.id) else { return false }
            ids.remove(at: index)
            return true
        }
        if cancelled { cancelRunning(job.id, reason: .requested) }
    }

    /// Runs one job until it returns, cancelling its handler the moment the job is cancelled
    /// (a request, a lost lease, shutdown).
    private func runJob(_ context: JobContext) async {
        await withTaskGroup(of: Void.self) { job in
            job.addTask { await self.execute(context) }
            job.addTask { await context.waitUntilCancelled() }
            // Whichever ends first: the job (then the wait is cancelled) or the wait (then the
            // handler is cancelled, and its bookkeeping still runs to the end).
            await job.next()
            job.cancelAll()
        }
    }

    private func execute(_ context: JobContext) async {
        let job = context.job
        defer {
            running.withLock { _ = $0.removeValue(forKey: job.id) }
            doorbells[job.queue]?.ring()
            finished.ring()
        }
        guard let handler = handlers[job.kind] else {
            await record(job, failure: "no handler for job kind \(job.kind) in this worker")
            return
        }
        let started = ContinuousClock.now
        let result: Result<JobOutcome, any Error>
        do {
            result = .success(try await handler(context))
        } catch {
            result = .failure(error)
        }
        let runTime = ContinuousClock.now - started
        // This task may have been cancelled (that is how a cancel request or a lost lease
        // reaches the handler): the bookkeeping runs to its end regardless.
        await uncancellable {
            switch result {
            case .success(.completed):
                if !context.completedInTransaction { self.completions.add(job) }
                QueueMetrics.finished(job, .completed, runTime: runTime)
            case .success(.snooze(let delay)):
                QueueMetrics.finished(job, .snoozed, runTime: runTime)
                do {
                    try await self.queue.snooze(job, for: delay)
                } catch {
                    context.logger.error("could not snooze the job; its lease will expire", metadata: ["hub.error": "\(error)"])
                }
            case .failure(let error):
                QueueMetrics.finished(job, context.cancelReason == .requested ? .cancelled : .failed, runTime: runTime)
                await self.finish(context, error: error)
            }
        }
    }

    /// A handler that threw: cancelled, taken over, shut down, or failed.
    private func finish(_ context: JobContext, error: any Error) async {
        let job = context.job
        switch context.cancelReason {
        case .requested:
            do {
                try await queue.markCancelled(job)
                context.logger.info("job cancelled on request")
            } catch {
                context.logger.error("could not mark the job cancelled", metadata: ["hub.error": "\(error)"])
            }
        case .leaseLost:
            context.logger.warning("job lost its lease to another worker; its work here was abandoned")
        case .shutdown:
            break  // handed back by drainRunningJobs
        case nil:
            let message = (error as? HubError)?.description ?? String(describing: error)
            await record(job, failure: message, final: error is any FinalJobFailure)
        }
    }

    private func record(_ job: ClaimedJob, failure message: String, final: Bool = false) async {
        let delay = configuration.retryPolicy.delay(afterAttempt: job.attempt, unit: configuration.random())
        do {
            let state = try await queue.fail(job, error: message, retryAfter: delay, final: final)
            logger.warning(
                "job failed",
                metadata: ["hub.job.id": "\(job.id)", "hub.job.attempt": "\(job.attempt)", "hub.job.state": "\(state?.rawValue ?? "lease lost")",
                           "hub.error": "\(message)"]
            )
        } catch {
            logger.error("could not record a job failure", metadata: ["hub.job.id": "\(job.id)", "hub.error": "\(error)"])
        }
    }

    /// Waits up to the grace period for running jobs, then cancels the rest and returns them
    /// (to be handed back once they have returned). Waits on a doorbell rung as each job
    /// finishes, and stops waiting at once if the pool itself is cancelled: no polling loop
    /// that a cancelled task would turn into a busy spin.
    private func drainRunningJobs() async -> [ClaimedJob] {
        let deadline = ContinuousClock.now + configuration.gracePeriod
        while running.withLock({ !$0.isEmpty }), !Task.isCancelled {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            await finished.wait(timeout: left)
        }
        let unfinished = running.withLock { Array($0.values) }
        for context in unfinished { context.cancel(.shutdown) }
        return unfinished.map(\.job)
    }

    private func handBack(_ jobs: [ClaimedJob]) async {
        guard !jobs.isEmpty else { return }
        do {
            try await uncancellable { try await self.queue.release(jobs) }
            logger.info("handed back unfinished jobs", metadata: ["hub.jobs": "\(jobs.map(\.id))"])
        } catch {
            logger.error("could not hand back unfinished jobs; their leases will expire", metadata: ["hub.error": "\(error)"])
        }
    }
}
