import Foundation
import HubCore

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` holding an exclusive `flock` on `path`. The kernel drops the lock when the
/// process exits, so a crash never leaves it stuck.
func withFileLock<T>(
    path: String, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
) async throws -> T {
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
        throw HubError(.embeddedPostgres, "cannot open lock file \(path): \(String(cString: strerror(errno)))")
    }
    defer {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
    // Polled rather than blocking, so waiting for another process never ties up a thread of
    // the cooperative pool.
    let deadline = ContinuousClock.now + .seconds(120)
    while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
        guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
            throw HubError(.embeddedPostgres, "cannot lock \(path): another process has held it for 2 minutes")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await body()
}
