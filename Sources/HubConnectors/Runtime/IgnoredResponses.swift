import Synchronization

/// Counts the slices of one read that ended on an ignored response (`IGNORE` in an error
/// handler). Substream routers read parents through the same reader, so the count is kept by
/// the reader rather than passed along each call.
final class IgnoredResponses: Sendable {
    private let value = Mutex(0)

    var count: Int { value.withLock { $0 } }

    func record() { value.withLock { $0 += 1 } }
}
