import HubCore
import PostgresNIO

extension PostgresConnection {
    /// Throws when the connection has closed (the server restarted, failed over or ended the
    /// session). A query written to a closed connection never completes in postgres-nio 1.33:
    /// the channel's handlers are gone, so nothing fails the query, and the query does not
    /// honour cancellation either. Code that holds one connection across many queries (a
    /// session lock, a LISTEN) checks it before each use; pooled connections are checked by
    /// the pool.
    package func ensureOpen() throws {
        if isClosed { throw HubError(.databaseUnavailable, "the database closed the connection") }
    }

    /// Runs `body` on this connection, closing the connection if `body` takes longer than
    /// `limit`: a server that stopped answering (a half-open TCP connection after a failover)
    /// otherwise leaves queries waiting for the operating system's TCP timeout, often hours.
    /// Closing fails every query in flight, so `body` returns promptly either way.
    package func withDeadline<T: Sendable>(
        _ limit: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try ensureOpen()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body(self) }
            group.addTask {
                try await Task.sleep(for: limit)
                try? await self.close()
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
                // The deadline passed and the connection is closing: `body` fails next.
                do {
                    while let late = try await group.next() { if let value = late { return value } }
                } catch {
                    throw HubError(.databaseUnavailable, "the database did not answer within \(limit.inSeconds) s")
                }
            }
            throw HubError(.databaseUnavailable, "the database did not answer within \(limit.inSeconds) s")
        }
    }
}
