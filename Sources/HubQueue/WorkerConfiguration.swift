import Foundation

/// How a worker process runs the queue.
public struct WorkerConfiguration: Sendable {
    /// One queue this worker serves.
    public struct Queue: Sendable {
        public var name: String
        /// Jobs of this queue this process runs at once.
        public var slots: Int
        /// Claims at most this many per statement.
        public var batch: Int
        /// Whether its jobs carry group limits (claims then serialize on an advisory lock).
        public var grouped: Bool

        public init(name: String, slots: Int = 10, batch: Int = 100, grouped: Bool = false) {
            self.name = name
            self.slots = slots
            self.batch = batch
            self.grouped = grouped
        }
    }

    public var queues: [Queue]
    /// Identifies this process's leases; unique per process run.
    public var owner: String
    /// A running job's lease; renewed every `heartbeat`. A worker that stops renewing loses its
    /// jobs to others after this long.
    public var lease: Duration
    public var heartbeat: Duration
    /// How often to look for work without a NOTIFY (the fallback if one is lost).
    public var pollInterval: Duration
    /// How often to look for expired leases of any worker.
    public var rescueInterval: Duration
    /// On shutdown, how long running jobs may take to finish before they are handed back.
    public var gracePeriod: Duration
    /// Completions are written in batches: at most this many, at most this long apart.
    public var completionBatch: Int
    public var completionDelay: Duration
    public var retryPolicy: RetryPolicy
    /// Random draws in 0...1 for retry jitter; injected by tests.
    public var random: @Sendable () -> Double

    public init(
        queues: [Queue] = [Queue(name: "default")],
        owner: String = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8))",
        lease: Duration = .seconds(30), heartbeat: Duration = .seconds(10), pollInterval: Duration = .seconds(2),
        rescueInterval: Duration = .seconds(5), gracePeriod: Duration = .seconds(10), completionBatch: Int = 500,
        completionDelay: Duration = .milliseconds(5), retryPolicy: RetryPolicy = RetryPolicy(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.queues = queues
        self.owner = owner
        self.lease = lease
        self.heartbeat = heartbeat
        self.pollInterval = pollInterval
        self.rescueInterval = rescueInterval
        self.gracePeriod = gracePeriod
        self.completionBatch = completionBatch
        self.completionDelay = completionDelay
        self.retryPolicy = retryPolicy
        self.random = random
    }
}
