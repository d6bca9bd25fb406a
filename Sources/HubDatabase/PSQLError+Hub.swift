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

/// Runs `body`, turning driver errors into HubErrors that say what was being done. An error
/// thrown inside a transaction comes out as itself (a HubError, or a job handler's own
/// error), not wrapped in the driver's transaction error.
@discardableResult
public func withDatabaseErrors<T>(
    _ doing: String, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
) async throws -> T {
    do {
        return try await body()
    } catch let error as TransactionFailure {
        if let closureError = error.closureError {
            if closureError is PSQLError { throw HubError.database(closureError, while: doing) }
            throw closureError
        }
        throw HubError.database(error.beginError ?? error.commitError ?? error.rollbackError ?? error, while: doing)
    } catch let error as PostgresTransactionError {
        if let closureError = error.closureError {
            if closureError is PSQLError { throw HubError.database(closureError, while: doing) }
            throw closureError
        }
        throw HubError.database(error.beginError ?? error.commitError ?? error.rollbackError ?? error, while: doing)
    } catch {
        throw HubError.database(error, while: doing)
    }
}
