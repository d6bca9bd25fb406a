import HubCore
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// Opens one connection and closes it again. The pool behind `PostgresClient` retries an
/// unreachable server forever, which suits a running service but leaves a starting one
/// hanging; probing first turns a wrong URL, a stopped server or a refused login into a
/// prompt error that says which.
public enum DatabaseProbe {
    public static func check(_ url: DatabaseURL, logger: Logger) async throws {
        let configuration = try connectionConfiguration(url)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try await connection.close()
        } catch let error as PSQLError where error.code != .server {
            let cause = error.underlying.map { "\($0)" } ?? error.code.description
            throw HubError(.databaseUnavailable, "cannot reach the database at \(url.host):\(url.port): \(cause)")
        } catch {
            throw HubError.database(error, while: "connecting to \(url.host):\(url.port)")
        }
    }

    /// A single connection's settings for `url`, outside any pool.
    package static func connectionConfiguration(_ url: DatabaseURL) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socketDirectory = url.socketDirectory {
            configuration = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(url.port)", username: url.username,
                password: url.password?.revealed, database: url.database
            )
        } else {
            configuration = .init(
                host: url.host, port: url.port, username: url.username, password: url.password?.revealed,
                database: url.database, tls: try tls(for: url)
            )
        }
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    private static func tls(for url: DatabaseURL) throws -> PostgresConnection.Configuration.TLS {
        guard let tlsConfiguration = url.tlsConfiguration else { return .disable }
        let context = try NIOSSLContext(configuration: tlsConfiguration)
        return url.sslMode == .prefer ? .prefer(context) : .require(context)
    }
}
