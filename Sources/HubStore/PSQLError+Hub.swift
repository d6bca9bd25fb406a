import HubCore
import PostgresNIO

extension HubError {
    /// Translates a driver error into a HubError. The server's message is kept (it describes
    /// our SQL, not user data); the query text and bind values never are.
    package static func database(_ error: any Error, while doing: String) -> HubError {
        if let error = error as? HubError { return error }
        guard let psql = error as? PSQLError else {
            return HubError(.databaseError, "database error while \(doing)", detail: String(describing: type(of: error)))
        }
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState] ?? "?"
            let message = psql.serverInfo?[.message] ?? "unknown server error"
            let code: HubError.Code = state == "23505" ? .conflict : .databaseError
            return HubError(code, "database error while \(doing): \(message)", detail: "SQLSTATE \(state)")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .sslUnsupported,
            .failedToAddSSLHandler, .uncleanShutdown:
            return HubError(.databaseUnavailable, "cannot reach the database while \(doing)", detail: psql.code.description)
        default:
            return HubError(.databaseError, "database error while \(doing)", detail: psql.code.description)
        }
    }
}

extension PSQLError {
    /// The SQLSTATE of a server error, if this is one.
    var sqlState: String? { code == .server ? serverInfo?[.sqlState] : nil }
}
