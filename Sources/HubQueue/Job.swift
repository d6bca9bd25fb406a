import Foundation
import HubCore

/// Where a job is in its life.
public enum JobState: String, Sendable, CaseIterable, Codable {
    /// Runs as soon as a worker of its queue is free.
    case available
    /// Waits for `run_at` (delayed, or snoozed: "not now").
    case scheduled
    /// A worker holds its lease.
    case running
    /// Failed; runs again at `run_at` after a backoff.
    case retryable
    case completed
    /// Failed `max_attempts` times; kept for inspection, retryable by hand.
    case discarded
    case cancelled

    public var isFinal: Bool { self == .completed || self == .discarded || self == .cancelled }
}

/// A job to enqueue.
public struct JobRequest: Sendable {
    public var kind: String
    public var queue: String
    /// IDs and parameters only: args are stored in clear and shown by `jobs show`.
    public var args: JSONValue
    public var priority: Int
    public var runAt: Date?
    public var maxAttempts: Int
    /// While a job with this key is active, enqueueing another is a no-op returning it.
    public var uniqueKey: String?
    /// At most `groupLimit` jobs of the group run at once, across all workers.
    public var groupKey: String?
    public var groupLimit: Int?

    public init(
        kind: String, queue: String = "default", args: JSONValue = [:], priority: Int = 0, runAt: Date? = nil,
        maxAttempts: Int = 20, uniqueKey: String? = nil, groupKey: String? = nil, groupLimit: Int? = nil
    ) {
        self.kind = kind
        self.queue = queue
        self.args = args
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.uniqueKey = uniqueKey
        self.groupKey = groupKey
        self.groupLimit = groupLimit
    }

    func validate() throws {
        guard !kind.isEmpty, kind.count <= 200 else { throw HubError(.invalidInput, "job kind must be 1 to 200 characters") }
        guard !queue.isEmpty, queue.count <= 100 else { throw HubError(.invalidInput, "queue name must be 1 to 100 characters") }
        guard (1...1000).contains(maxAttempts) else { throw HubError(.invalidInput, "max_attempts must be from 1 to 1000") }
        guard (-32768...32767).contains(priority) else { throw HubError(.invalidInput, "priority must fit in a smallint") }
        if groupKey != nil, groupLimit == nil { throw HubError(.invalidInput, "a job with a group key needs a group limit") }
        if let groupLimit, groupLimit < 1 { throw HubError(.invalidInput, "group limit must be at least 1") }
    }
}

/// A job as stored, for listing and inspection.
public struct JobRecord: Sendable {
    public let id: Int64
    public let kind: String
    public let queue: String
    public let args: JSONValue
    public let priority: Int
    public let state: JobState
    public let attempt: Int
    public let maxAttempts: Int
    public let runAt: Date
    public let leaseOwner: String?
    public let uniqueKey: String?
    public let groupKey: String?
    public let errors: JSONValue
    public let createdAt: Date
    public let finalizedAt: Date?
    /// What the handler last reported (`JobContext.saveProgress`); null when it reports none.
    public let progress: JSONValue
}

/// A job a worker has claimed: its lease is held by `owner` for `attempt`.
public struct ClaimedJob: Sendable {
    public let id: Int64
    public let kind: String
    public let queue: String
    public let args: JSONValue
    public let attempt: Int
    public let maxAttempts: Int
    public let owner: String
}
