import Foundation
import HubCore
import NIOSSL
import PostgresNIO

/// A PostgreSQL connection URL (`postgres://user:password@host:5432/db?sslmode=require`),
/// parsed once; its password stays a `Secret` and its description redacts it.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public enum SSLMode: String, Sendable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: Secret<String>?
    public var database: String
    public var sslMode: SSLMode
    /// A Unix socket directory (`?host=/var/run/postgresql`), used instead of host:port.
    public var socketDirectory: String?
    /// PEM file of the certificate authorities to trust with `verify-full` (`?sslrootcert=`),
    /// such as a managed database's CA bundle; the system's roots otherwise.
    public var rootCertificates: String?

    public init(
        host: String, port: Int, username: String, password: Secret<String>?, database: String,
        sslMode: SSLMode = .disable, socketDirectory: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.socketDirectory = socketDirectory
    }

    /// Parses a URL. The error names the part that is wrong and never repeats the URL, which
    /// may hold a password.
    public init(parsing string: String) throws {
        func invalid(_ what: String) -> HubError {
            HubError(.invalidConfiguration, "database URL: \(what) (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)")
        }
        guard let components = URLComponents(string: string) else { throw invalid("not a URL") }
        guard let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw invalid("scheme must be postgres:// or postgresql://")
        }
        let items = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let socketDirectory = items["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        guard let host = components.host.flatMap({ $0.isEmpty ? nil : $0 }) ?? socketDirectory.map({ _ in "localhost" }) else {
            throw invalid("host is missing")
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw invalid("user name is missing")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw invalid("database name is missing") }
        let mode: SSLMode
        if let raw = items["sslmode"] {
            guard let parsed = SSLMode(rawValue: raw) else {
                throw invalid("sslmode '\(raw)' is not one of disable, prefer, require, verify-full")
            }
            mode = parsed
        } else {
            // Unverified TLS only where there is no network to attack: loopback and sockets.
            // Anywhere else a man in the middle would get the password, so verify by default.
            mode = socketDirectory != nil || Self.isLocal(host) ? .prefer : .verifyFull
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: user,
            password: components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }.map(Secret.init),
            database: database.removingPercentEncoding ?? database,
            sslMode: mode,
            socketDirectory: socketDirectory
        )
        rootCertificates = items["sslrootcert"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Loopback names and addresses.
    static func isLocal(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// The URL with its password in clear, for handing to a child process's environment.
    public var revealedString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.host = host
        components.port = port
        components.user = username
        components.password = password?.revealed
        components.path = "/" + database
        var items = [URLQueryItem(name: "sslmode", value: sslMode.rawValue)]
        if let socketDirectory { items.append(URLQueryItem(name: "host", value: socketDirectory)) }
        if let rootCertificates { items.append(URLQueryItem(name: "sslrootcert", value: rootCertificates)) }
        components.queryItems = items
        return components.string ?? ""
    }

    public var description: String {
        let credentials = password == nil ? username : "\(username):\(Secret<String>.redactedText)"
        return "postgres://\(credentials)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// The same server and credentials, another database.
    public func withDatabase(_ name: String) -> DatabaseURL {
        var copy = self
        copy.database = name
        return copy
    }

    /// A connection pool's settings for this URL; `session` limits apply to every connection.
    public func clientConfiguration(maximumConnections: Int = 20, session: DatabaseSessionLimits = .none) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username,
                password: password?.revealed, database: database
            )
        } else {
            configuration = .init(
                host: host, port: port, username: username, password: password?.revealed,
                database: database, tls: tls
            )
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = session.startupParameters
        return configuration
    }

    private var tls: PostgresClient.Configuration.TLS {
        guard let tlsConfiguration else { return .disable }
        return sslMode == .prefer ? .prefer(tlsConfiguration) : .require(tlsConfiguration)
    }

    /// The TLS settings `sslMode` asks for; nil for `disable`. Like libpq, `prefer` and
    /// `require` encrypt without verifying the certificate; `verify-full` verifies it.
    var tlsConfiguration: TLSConfiguration? {
        switch sslMode {
        case .disable:
            return nil
        case .prefer, .require:
            var unverified = TLSConfiguration.makeClientConfiguration()
            unverified.certificateVerification = .none
            return unverified
        case .verifyFull:
            var verified = TLSConfiguration.makeClientConfiguration()
            if let rootCertificates { verified.trustRoots = .file(rootCertificates) }
            return verified
        }
    }
}
