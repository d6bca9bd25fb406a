/// Runs submitted work in the background, at most `width` pieces at once, as children of the
/// task that calls `run()`: nothing it starts outlives that task, and nothing is stored to be
/// cancelled by hand. `submit` waits for room and `drain` for everything submitted; both
/// report the first failure.
///
/// A sync uses it to commit batches while the next pages are read: the read submits, and a
/// batch carrying a state is submitted `after` every earlier piece, so the state never commits
/// before a record it covers, while the read goes on.
actor CommitLane {
    typealias Work = @Sendable () async throws -> Void
    /// A piece of work, its place in submission order, and whether it waits for every earlier one.
    private typealias Piece = (number: Int, work: Work, ordered: Bool)

    let width: Int
    private let pieces: AsyncStream<Piece>
    private let intake: AsyncStream<Piece>.Continuation
    /// Submitted and not yet ended (waiting in the stream or running).
    private var outstanding = 0
    /// The numbers of the pieces not yet ended, and the next number to give.
    private var unfinished: Set<Int> = []
    private var nextNumber = 0
    private var orderedWaiters: [(number: Int, continuation: CheckedContinuation<Void, Never>)] = []
    private var failure: (any Error)?
    /// Set once `run()` has returned: nothing submitted later would ever run.
    private var stopped = false
    private var waiters: [(limit: Int, continuation: CheckedContinuation<Void, Never>)] = []

    init(width: Int) {
        precondition(width > 0, "a commit lane needs room for one piece of work")
        self.width = width
        (pieces, intake) = AsyncStream.makeStream()
    }

    /// Runs what is submitted until `close()` (or until the calling task is cancelled), then
    /// waits for every piece it started. Pieces submitted but never started count as failed.
    nonisolated func run() async {
        await withDiscardingTaskGroup { group in
            for await piece in pieces {
                group.addTask {
                    do {
                        if piece.ordered { try await self.waitForEarlier(than: piece.number) }
                        try await piece.work()
                        await self.ended(piece.number, nil)
                    } catch {
                        await self.ended(piece.number, error)
                    }
                }
            }
        }
        await stop()
    }

    /// Ends the stream of work: `run()` returns once what was submitted has run.
    nonisolated func close() {
        intake.finish()
    }

    /// Queues `work`, first waiting until fewer than `width` pieces are outstanding. Work
    /// submitted `ordered` starts only once every piece submitted before it has ended (and
    /// fails, without running, if one of them failed).
    func submit(ordered: Bool = false, _ work: @escaping Work) async throws {
        await wait(untilAtMost: width - 1)
        try check()
        outstanding += 1
        let number = nextNumber
        nextNumber += 1
        unfinished.insert(number)
        intake.yield((number, work, ordered))
    }

    private func waitForEarlier(than number: Int) async throws {
        while unfinished.contains(where: { $0 < number }), !stopped {
            await withCheckedContinuation { orderedWaiters.append((number, $0)) }
        }
        try check()
    }

    /// Waits until every submitted piece has ended; throws the first failure.
    func drain() async throws {
        await wait(untilAtMost: 0)
        try check()
    }

    private func check() throws {
        if let failure { throw failure }
        if stopped { throw CancellationError() }
    }

    private func wait(untilAtMost limit: Int) async {
        // A loop: another submitter may take the room between the wake-up and this task's turn.
        while outstanding > limit, !stopped {
            await withCheckedContinuation { waiters.append((limit, $0)) }
        }
    }

    private func ended(_ number: Int, _ error: (any Error)?) {
        outstanding -= 1
        unfinished.remove(number)
        if failure == nil { failure = error }
        wake()
    }

    private func stop() {
        stopped = true
        if outstanding > 0, failure == nil { failure = CancellationError() }
        outstanding = 0
        unfinished = []
        wake()
    }

    private func wake() {
        let ready = waiters.filter { stopped || outstanding <= $0.limit }
        waiters.removeAll { stopped || outstanding <= $0.limit }
        for waiter in ready { waiter.continuation.resume() }
        let lowest = unfinished.min() ?? Int.max
        let free = orderedWaiters.filter { stopped || $0.number <= lowest }
        orderedWaiters.removeAll { stopped || $0.number <= lowest }
        for waiter in free { waiter.continuation.resume() }
    }
}
