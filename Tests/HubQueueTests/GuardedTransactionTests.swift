import Foundation
import HubCore
import HubDatabase
import PostgresNIO
import Synchronization
import Testing
import TributaryTestSupport

/// `withGuardedTransaction`: a transaction whose connection the server closed mid-body fails
/// at once. postgres-nio's own transaction sends `ROLLBACK` there, which never completes on a
/// closed connection: a job's transaction hung for good when PostgreSQL restarted mid-sync
/// (`scripts/cluster-test`).
@Suite("Guarded transactions")
struct GuardedTransactionTests {
    struct Stop: Error {}

    final class Outcome: Sendable {
        private let state = Mutex<String?>(nil)
        func set(_ text: String) { state.withLock { $0 = text } }
        var value: String? { state.withLock { $0 } }
    }

    @Test("a transaction whose session the server ended fails promptly instead of hanging on its rollback")
    func closedConnectionFailsPromptly() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let logger = TestDatabase.logger
            // Run apart and polled, not awaited: were the rollback to hang again, the test fails
            // (after 20 s) rather than hanging with it.
            let outcome = Outcome()
            _ = Task {
                let result: String
                do {
                    try await client.withGuardedTransaction(logger: logger) { connection in
                        var pid: Int32 = 0
                        for try await value in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { pid = value }
                        // Another session ends this one, as a server restart or failover does.
                        try await client.query("SELECT pg_terminate_backend(\(pid))", logger: logger)
                        for _ in 0..<200 where !connection.isClosed { try await Task.sleep(for: .milliseconds(25)) }
                        #expect(connection.isClosed)
                        throw Stop()
                    }
                    result = "committed"
                } catch let failure as TransactionFailure {
                    result = failure.closureError is Stop && failure.rollbackError == nil ? "failed" : "failed otherwise: \(failure)"
                } catch {
                    result = "threw \(error)"
                }
                outcome.set(result)
            }
            for _ in 0..<800 where outcome.value == nil { try await Task.sleep(for: .milliseconds(25)) }
            #expect(outcome.value == "failed")
        }
    }
}
