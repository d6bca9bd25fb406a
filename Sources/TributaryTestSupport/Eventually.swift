/// Polls `value` every `interval` until `done` accepts it or `timeout` passes, and returns the
/// last value read: tests wait for a condition instead of sleeping a fixed time and hoping.
/// Errors while polling count as "not yet" (a database restarting, a server starting); the
/// last read is made once more after the deadline so that its error, if any, surfaces.
public func eventually<T>(
    timeout: Duration, every interval: Duration = .milliseconds(100),
    _ value: () async throws -> T, until done: (T) -> Bool
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let current = try? await value(), done(current) { return current }
        try await Task.sleep(for: interval)
    }
    return try await value()
}
