import HubQueue
import Testing

@Suite("Retry backoff")
struct RetryPolicyTests {
    let policy = RetryPolicy(base: .seconds(1), maximum: .seconds(60), jitter: 0.2)

    @Test func doublesPerAttemptFromTheBase() {
        #expect(policy.delay(afterAttempt: 1, unit: 0.5) == .seconds(1))
        #expect(policy.delay(afterAttempt: 2, unit: 0.5) == .seconds(2))
        #expect(policy.delay(afterAttempt: 4, unit: 0.5) == .seconds(8))
    }

    @Test func jitterStaysWithinItsShare() {
        #expect(policy.delay(afterAttempt: 3, unit: 0) == .milliseconds(3200))
        #expect(policy.delay(afterAttempt: 3, unit: 1) == .milliseconds(4800))
        for _ in 0..<100 {
            let delay = policy.delay(afterAttempt: 3)
            #expect(delay >= .milliseconds(3200) && delay <= .milliseconds(4800))
        }
    }

    @Test func isCappedAtTheMaximum() {
        #expect(policy.delay(afterAttempt: 30, unit: 0.5) == .seconds(60))
        #expect(policy.delay(afterAttempt: 1000, unit: 0.5) == .seconds(60))
    }
}
