import Synchronization

/// Wakes a waiting dispatcher: a NOTIFY arrived, a slot freed up, or shutdown began. A ring
/// with nobody waiting is remembered, so no wake-up is lost between checking and waiting.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when rung, or after `timeout` (the polling fallback), or on cancellation.
    func wait(timeout: Duration) async {
        // Rings only when the full timeout passes: cancelled early (the usual case, once this
        // wait returns), it must not ring, or the next wait would return at once and an idle
        // dispatcher would claim in a loop.
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self.ring()
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.ring()
        }
        state.withLock { $0.rung = false }
    }
}
