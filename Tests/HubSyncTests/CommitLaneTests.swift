import Foundation
import Synchronization
import Testing

@testable import HubSync

/// The lane that commits a sync's batches in the background: bounded, drained in order of
/// need, failures reported, and nothing left waiting when its task is cancelled.
@Suite("Background commit lane")
struct CommitLaneTests {
    struct Failed: Error {}

    @Test func neverRunsMoreThanItsWidthAndDrainWaitsForAll() async throws {
        let lane = CommitLane(width: 2)
        let counts = Mutex((now: 0, peak: 0, done: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await lane.run() }
            for _ in 0..<10 {
                try await lane.submit {
                    counts.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
                    try await Task.sleep(for: .milliseconds(20))
                    counts.withLock { $0.now -= 1; $0.done += 1 }
                }
            }
            try await lane.drain()
            #expect(counts.withLock { $0.done } == 10, "drain returned before every piece ended")
            lane.close()
            try await group.waitForAll()
        }
        #expect(counts.withLock { $0.peak } == 2)
    }

    /// A batch with a state is submitted ordered: it starts after every earlier batch has
    /// ended, while the submitter goes on, and never runs after one of them failed.
    @Test func anOrderedPieceWaitsForEveryEarlierOneAndNotAfterAFailure() async throws {
        let lane = CommitLane(width: 3)
        let log = Mutex<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await lane.run() }
            try await lane.submit {
                try await Task.sleep(for: .milliseconds(80))
                log.withLock { $0.append("slow batch") }
            }
            try await lane.submit(ordered: true) { log.withLock { $0.append("state") } }
            // The submitter was not held: nothing has ended yet.
            #expect(log.withLock { $0 }.isEmpty)
            try await lane.drain()
            lane.close()
            try await group.waitForAll()
        }
        #expect(log.withLock { $0 } == ["slow batch", "state"])

        let failing = CommitLane(width: 3)
        let ran = Mutex(false)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await failing.run() }
            await #expect(throws: Failed.self) {
                try await failing.submit {
                    try await Task.sleep(for: .milliseconds(40))
                    throw Failed()
                }
                try await failing.submit(ordered: true) { ran.withLock { $0 = true } }
                try await failing.drain()
            }
            failing.close()
        }
        #expect(ran.withLock { $0 } == false, "a state committed after a batch before it failed")
    }

    @Test func theFirstFailureReachesTheNextSubmitAndDrain() async throws {
        let lane = CommitLane(width: 1)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await lane.run() }
            await #expect(throws: Failed.self) {
                try await lane.submit { throw Failed() }
                try await lane.submit {}  // waits for the failing piece, then reports it
            }
            await #expect(throws: Failed.self) { try await lane.drain() }
            lane.close()
        }
    }

    @Test func aCancelledLaneLeavesNoSubmitterWaiting() async throws {
        let lane = CommitLane(width: 1)
        let started = Mutex(false)
        let outcome = await withTaskGroup(of: Void.self) { group -> Result<Void, any Error> in
            group.addTask { await lane.run() }
            do {
                try await lane.submit {
                    started.withLock { $0 = true }
                    try await Task.sleep(for: .seconds(600))
                }
                while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                group.cancelAll()  // the sleeping piece is cancelled; the lane's run ends
                try await lane.submit {}
                try await lane.drain()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        #expect(throws: (any Error).self) { try outcome.get() }
    }
}
