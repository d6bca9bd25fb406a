/// How to run the embedded PostgreSQL that `tributary dev`, `demo` and the tests start when no
/// database URL is configured.
public struct EmbeddedPostgresConfiguration: Sendable {
    /// Tributary's local folder; the cluster lives in `pg/` inside it, beside its password
    /// file and server log.
    public var rootDirectory: String
    /// The loopback port to listen on. nil reuses the port of the previous start (kept in
    /// `pg-port`), so that URLs handed out before a restart still reach the server, or picks a
    /// free one the first time.
    public var port: Int?
    /// The database created in the cluster for Tributary.
    public var database: String
    /// `-c name=value` server settings on top of the defaults.
    public var settings: [String: String]
    /// false trades crash safety for speed (fsync off): for tests and throw-away clusters.
    public var durable: Bool
    /// The account to run the server as when Tributary runs as root (`postgres` by default).
    public var serverUser: String?
    /// Searched before `/usr/lib/postgresql/*/bin` for `initdb` and `postgres`.
    public var searchPath: String?

    public init(
        rootDirectory: String = ".tributary", port: Int? = nil, database: String = "tributary",
        settings: [String: String] = [:], durable: Bool = true, serverUser: String? = nil, searchPath: String? = nil
    ) {
        self.rootDirectory = rootDirectory
        self.port = port
        self.database = database
        self.settings = settings
        self.durable = durable
        self.serverUser = serverUser
        self.searchPath = searchPath
    }

    var passwordFile: String { rootDirectory + "/pg-password" }
    var logFile: String { rootDirectory + "/pg.log" }
    var lockFile: String { rootDirectory + "/pg.lock" }
    var portFile: String { rootDirectory + "/pg-port" }
}
