import HubCore
import HubDatabase
import HubStore
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Whether the database answers right now, checked every `interval` on a connection of its
/// own, outside the pool: while PostgreSQL restarts or fails over the pool makes requests wait
/// for a connection until it is back, and this is how the api learns to answer 503 instead.
public final class DatabaseWatch: Service {
    let url: DatabaseURL
    let interval: Duration
    /// How long a check may wait for an answer before the database counts as unavailable.
    let answerTimeout: Duration
    let logger: Logger
    private let down = Atomic<Bool>(false)

    public init(url: DatabaseURL, interval: Duration = .seconds(1), answerTimeout: Duration = .seconds(2), logger: Logger) {
        self.url = url
        self.interval = interval
        self.answerTimeout = answerTimeout
        self.logger = logger
    }

    /// True from the first failed check until the next good one. Starts false: the roles
    /// start only after the database answered.
    public var isDown: Bool { down.load(ordering: .relaxed) }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.watch() }
    }

    private func watch() async {
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: DatabaseProbe.connectionConfiguration(url), id: 0, logger: logger
                )
                try await withTaskCancellationHandler {
                    while !Task.isCancelled {
                        let logger = self.logger
                        try await connection.withDeadline(answerTimeout) { connection in
                            for try await _ in try await connection.query("SELECT 1", logger: logger) {}
                        }
                        mark(down: false, cause: nil)
                        try? await Task.sleep(for: interval)
                    }
                } onCancel: {
                    let closing: EventLoopFuture<Void> = connection.close()
                    closing.whenComplete { _ in }
                }
                if !connection.isClosed { try? await connection.close() }
            } catch {
                mark(down: true, cause: error)
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func mark(down isDown: Bool, cause: (any Error)?) {
        guard down.exchange(isDown, ordering: .relaxed) != isDown else { return }
        if isDown {
            logger.error("the database stopped answering; API requests get 503 until it is back",
                         metadata: ["hub.error": "\(HubError.database(cause ?? HubError(.databaseUnavailable, "no answer"), while: "checking the database"))"])
        } else {
            logger.notice("the database answers again")
        }
    }
}
