import HubCore
import Logging
import PostgresNIO

/// Answers `/readyz`: the database answers, and its schema is the one this binary expects.
public struct DatabaseReadiness: Sendable {
    public enum Result: Sendable, Equatable {
        case ready
        case notReady(code: HubError.Code, reason: String)
    }

    let client: PostgresClient
    let runner: MigrationRunner
    let logger: Logger

    public init(client: PostgresClient, runner: MigrationRunner = MigrationRunner(), logger: Logger) {
        self.client = client
        self.runner = runner
        self.logger = logger
    }

    public func check() async -> Result {
        do {
            let status = try await runner.status(on: client, logger: logger)
            if let refusal = status.refusal { return .notReady(code: refusal.code, reason: refusal.message) }
            return .ready
        } catch let error as HubError {
            return .notReady(code: error.code, reason: error.message)
        } catch {
            return .notReady(code: .databaseUnavailable, reason: "database check failed")
        }
    }
}
