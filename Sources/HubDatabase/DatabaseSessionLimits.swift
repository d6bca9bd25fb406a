import HubCore

/// Server-side limits set on every session of a role's connection pool, so that PostgreSQL
/// itself ends what a stalled process left behind: a worker frozen (SIGSTOP, a long pause, a
/// hung network) inside an open transaction keeps its row locks until the server ends the
/// session, and every rescue or update of those rows waits until then.
public struct DatabaseSessionLimits: Sendable, Equatable {
    /// Longest a single statement may run (`statement_timeout`); nil for no limit.
    public var statementTimeout: Duration?
    /// Longest a session may sit in an open transaction without sending a statement
    /// (`idle_in_transaction_session_timeout`); the server then ends the session, rolling the
    /// transaction back and releasing its locks. nil for no limit.
    public var idleInTransactionTimeout: Duration?

    public init(statementTimeout: Duration? = nil, idleInTransactionTimeout: Duration? = nil) {
        self.statementTimeout = statementTimeout
        self.idleInTransactionTimeout = idleInTransactionTimeout
    }

    /// No limits: one-shot commands (migrations, key rotation) whose statements may rightly run long.
    public static let none = DatabaseSessionLimits()

    /// Startup parameters carrying the limits: PostgreSQL accepts any setting in the startup
    /// packet, so they hold from the session's first statement without a round trip.
    var startupParameters: [(String, String)] {
        var parameters: [(String, String)] = []
        if let statementTimeout { parameters.append(("statement_timeout", Self.milliseconds(statementTimeout))) }
        if let idleInTransactionTimeout {
            parameters.append(("idle_in_transaction_session_timeout", Self.milliseconds(idleInTransactionTimeout)))
        }
        return parameters
    }

    private static func milliseconds(_ duration: Duration) -> String {
        "\(max(1, Int((duration.inSeconds * 1000).rounded(.up))))"
    }
}
