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

    let running = Mutex<[Int64: RunningJob]>([:])
    /// Cancel requests heard for jobs not (yet) running here: a job is claimed and committed a
    /// moment before this worker registers it, and a cancel heard in between must not be lost.
    let unmatchedCancels = Mutex<[Int64]>([])
    let doorbells: [String: Doorbell]
    let completions: CompletionBuffer
    let stopping = Atomic<Bool>(false)

    struct RunningJob: Sendable {
        let context: JobContext
        let task: Task<Void, Never>
    }

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

    public func run() async throws {
        let kinds = handlers.keys.sorted()
        logger.info("worker started", metadata: ["hub.queues": "\(configuration.queues.map(\.name))", "hub.kinds": "\(kinds)"])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listen() }
                group.addTask { await self.renewLeasesPeriodically() }
                group.addTask { await self.rescuePeriodically() }
                group.addTask { await self.completions.run(batch: self.configuration.completionBatch, delay: self.configuration.completionDelay) }
                await withTaskGroup(of: Void.self) { dispatchers in
                    for settings in configuration.queues {
                        dispatchers.addTask { await self.dispatch(settings, kinds: kinds) }
                    }
                }
                // Dispatchers return once stopping: drain, then stop the helpers.
                await self.drainRunningJobs()
                await self.completions.flushAndStop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            for doorbell in self.doorbells.values { doorbell.ring() }
        }
        logger.info("worker stopped")
    }

    /// Claims and starts jobs of one queue while there is room, until shutdown.
    private func dispatch(_ settings: WorkerConfiguration.Queue, kinds: [String]) async {
        guard let doorbell = doorbells[settings.name], !kinds.isEmpty else { return }
        while !stopping.load(ordering: .relaxed), !Task.isCancelled {
            let free = settings.slots - running.withLock { $0.values.filter { $0.context.job.queue == settings.name }.count }
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
                for job in claimed { start(job) }
                if claimed.count < wanted { await doorbell.wait(timeout: configuration.pollInterval) }
            } catch {
                logger.error("claiming failed; retrying", metadata: ["hub.queue": "\(settings.name)", "hub.error": "\(error)"])
                await doorbell.wait(timeout: configuration.pollInterval)
            }
        }
    }

    private func start(_ job: ClaimedJob) {
        let context = JobContext(job: job, client: client, logger: logger)
        // Registered before it can finish, so the cleanup below always finds it.
        running.withLock { running in
            let task = Task { await self.execute(context) }
            running[job.id] = RunningJob(context: context, task: task)
        }
        let cancelled = unmatchedCancels.withLock { ids in
            guard let index = ids.firstIndex(of: job.id) else { return false }
            ids.remove(at: index)
            return true
        }
        if cancelled { cancelRunning(job.id, reason: .requested) }
    }

    private func execute(_ context: JobContext) async {
        let job = context.job
        defer {
            running.withLock { _ = $0.removeValue(forKey: job.id) }
            doorbells[job.queue]?.ring()
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
        // The bookkeeping runs in a task of its own: this one may have been cancelled (that is
        // how a cancel request or a lost lease reaches the handler), and a cancelled task's
        // queries fail before they start.
        await Task {
            switch result {
            case .success(.completed):
                if !context.completedInTransaction { completions.add(job) }
                QueueMetrics.finished(job, .completed, runTime: runTime)
            case .success(.snooze(let delay)):
                QueueMetrics.finished(job, .snoozed, runTime: runTime)
                do {
                    try await queue.snooze(job, for: delay)
                } catch {
                    context.logger.error("could not snooze the job; its lease will expire", metadata: ["hub.error": "\(error)"])
                }
            case .failure(let error):
                QueueMetrics.finished(job, context.cancelReason == .requested ? .cancelled : .failed, runTime: runTime)
                await finish(context, error: error)
            }
        }.value
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
            await record(job, failure: message)
        }
    }

    private func record(_ job: ClaimedJob, failure message: String) async {
        let delay = configuration.retryPolicy.delay(afterAttempt: job.attempt, unit: configuration.random())
        do {
            let state = try await queue.fail(job, error: message, retryAfter: delay)
            logger.warning(
                "job failed",
                metadata: ["hub.job.id": "\(job.id)", "hub.job.attempt": "\(job.attempt)", "hub.job.state": "\(state?.rawValue ?? "lease lost")",
                           "hub.error": "\(message)"]
            )
        } catch {
            logger.error("could not record a job failure", metadata: ["hub.job.id": "\(job.id)", "hub.error": "\(error)"])
        }
    }

    /// Waits up to the grace period for running jobs, then cancels and hands back the rest.
    private func drainRunningJobs() async {
        let deadline = ContinuousClock.now + configuration.gracePeriod
        while running.withLock({ !$0.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let unfinished = running.withLock { $0.values.map { $0 } }
        guard !unfinished.isEmpty else { return }
        for entry in unfinished {
            entry.context.cancel(.shutdown)
            entry.task.cancel()
        }
        for entry in unfinished { await entry.task.value }
        do {
            try await queue.release(unfinished.map(\.context.job))
            logger.info("handed back unfinished jobs", metadata: ["hub.jobs": "\(unfinished.map(\.context.job.id))"])
        } catch {
            logger.error("could not hand back unfinished jobs; their leases will expire", metadata: ["hub.error": "\(error)"])
        }
    }
}
