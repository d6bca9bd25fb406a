/// Where a sync run stands: the values of `sync_runs.status`.
public enum RunStatus: String, Sendable, CaseIterable, StoredStatus {
    case queued
    case running
    case succeeded
    case failed
    case cancelled

    /// A run in one of these states changes no more.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: true
        case .queued, .running: false
        }
    }
}
