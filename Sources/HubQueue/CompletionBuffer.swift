import Logging
import Synchronization

/// Collects finished jobs and completes them in batches: on this machine every commit costs
/// a WAL flush (≈ 3.7 ms), so one statement for hundreds of jobs instead of one each is most
/// of a worker's throughput. A crash before a flush only means those jobs run again.
final class CompletionBuffer: Sendable {
    private let queue: JobQueue
    private let logger: Logger
    private let pending = Mutex<[ClaimedJob]>([])
    private let doorbell = Doorbell()
    private let stopped = Atomic<Bool>(false)
    private let batch = Atomic<Int>(500)
    private let onFlushed: @Sendable () -> Void

    /// `onFlushed` runs after each flush that completed jobs: until then they still count as
    /// running against their group's limit, so that is when waiting jobs of the group may start.
    init(queue: JobQueue, logger: Logger, onFlushed: @escaping @Sendable () -> Void = {}) {
        self.queue = queue
        self.logger = logger
        self.onFlushed = onFlushed
    }

    func add(_ job: ClaimedJob) {
        let count = pending.withLock { pending -> Int in
            pending.append(job)
            return pending.count
        }
        if count == 1 || count >= batch.load(ordering: .relaxed) { doorbell.ring() }
    }

    /// Flushes whenever jobs are waiting: after `delay` to let a batch gather, or at once
    /// when the batch is full.
    func run(batch: Int, delay: Duration) async {
        self.batch.store(batch, ordering: .relaxed)
        while !Task.isCancelled, !stopped.load(ordering: .relaxed) {
            await doorbell.wait(timeout: .seconds(1))
            if pending.withLock({ $0.count }) < batch { try? await Task.sleep(for: delay) }
            await flush()
        }
    }

    func flushAndStop() async {
        stopped.store(true, ordering: .relaxed)
        await flush()
    }

    private func flush() async {
        let jobs = pending.withLock { pending -> [ClaimedJob] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !jobs.isEmpty else { return }
        defer { onFlushed() }
        let size = batch.load(ordering: .relaxed)
        for start in stride(from: 0, to: jobs.count, by: size) {
            let chunk = Array(jobs[start..<min(start + size, jobs.count)])
            do {
                let done = try await queue.complete(chunk)
                if done.count < chunk.count {
                    let lost = chunk.map(\.id).filter { !done.contains($0) }
                    logger.warning("completions refused: these jobs had been taken over", metadata: ["hub.jobs": "\(lost)"])
                }
            } catch {
                logger.error("completing jobs failed; they will run again after their lease", metadata: ["hub.error": "\(error)"])
            }
        }
    }
}
