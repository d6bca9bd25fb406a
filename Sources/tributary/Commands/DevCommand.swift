import ArgumentParser
import HubApp
import Logging
import HubStore

struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run everything on this machine: embedded PostgreSQL, migrations and every role.",
        discussion: """
            Without TRIBUTARY_DATABASE_URL, initializes (first run) and starts a PostgreSQL cluster in
            the data folder, applies migrations and serves every role in one process. Ctrl-C stops
            it all, the database included.

            Examples:
              tributary dev
              tributary dev --data-dir /var/tmp/tributary --port 9090
            """
    )

    @Option(help: "Local data folder (default: TRIBUTARY_DATA_DIR or .tributary).")
    var dataDir: String?

    @Option(help: "Port for the API on 127.0.0.1 (default: from TRIBUTARY_HTTP_ADDRESS, or 8080).")
    var port: Int?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be from 0 to 65535") }
    }

    func run() async throws {
        var configuration = try CommandEnvironment.configuration()
        if let dataDir { configuration.dataDirectory = dataDir }
        if let port { configuration.httpPort = port }
        let logger = CommandEnvironment.bootstrapLogging(configuration, server: true)
        let host = configuration.httpHost
        // First run: a key-encryption key for this machine's data, in the data folder.
        if configuration.databaseURL == nil, configuration.masterKey == nil, configuration.masterKeyFile == nil {
            _ = try MasterKey.load(configuration, createIfMissing: true)
        }
        try await HubRuntime.withDatabase(configuration, logger: logger) { databases in
            // Its own laptop install: secrets left in the main database by an older version move to the vault.
            _ = try await HubRuntime.migrate(databases, dryRun: false, splitVault: true, kek: try MasterKey.load(configuration), logger: logger) { _ in }
            try await HubRuntime.serve(roles: Role.available, configuration: configuration, databases: databases, logger: logger) {
                port in
                logger.info("api listening", metadata: ["hub.http.port": "\(port)"])
                printError("Tributary is running: http://\(host):\(port)/healthz  (Ctrl-C stops it, and its database)")
            }
        }
    }
}
