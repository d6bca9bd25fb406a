@testable import HubQueue
import Testing

@Suite("The dispatcher's doorbell")
struct DoorbellTests {
    /// A wait that ended early must leave nothing behind: its timer, cancelled, once rang the
    /// bell anyway, so every later wait returned at once and idle workers claimed in a loop.
    @Test func aWaitThatEndsEarlyLeavesNoRingBehind() async {
        let bell = Doorbell()
        for _ in 0..<3 {
            bell.ring()
            let rung = ContinuousClock.now
            await bell.wait(timeout: .seconds(30))
            #expect(ContinuousClock.now - rung < .seconds(20), "a rung bell wakes the waiter at once (the margin is for a loaded machine)")
        }
        let start = ContinuousClock.now
        await bell.wait(timeout: .milliseconds(300))
        #expect(ContinuousClock.now - start >= .milliseconds(250), "an unrung bell waits out its timeout")
    }

    @Test func aRingWhileWaitingWakesTheWaiter() async {
        let bell = Doorbell()
        let start = ContinuousClock.now
        async let waited: Void = bell.wait(timeout: .seconds(30))
        try? await Task.sleep(for: .milliseconds(50))
        bell.ring()
        await waited
        #expect(ContinuousClock.now - start < .seconds(20))
    }
}
