/// Runs `work` to its end even when the calling task is cancelled, and returns its result.
///
/// For the bookkeeping that must happen *because* a task was cancelled: recording why a job
/// stopped, marking it cancelled, handing it back. A cancelled task's own database queries
/// fail before they start, so the work runs in a task of its own, which this awaits at once:
/// it is never stored and never outlives the caller. This is the one place that idiom lives.
public func uncancellable<T: Sendable>(_ work: sending @escaping @isolated(any) () async -> T) async -> T {
    await Task(operation: work).value
}

/// The throwing form of `uncancellable(_:)`.
public func uncancellable<T: Sendable>(_ work: sending @escaping @isolated(any) () async throws -> T) async throws -> T {
    try await Task(operation: work).value
}
