import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubDatabase
import HubEmbeddedPostgres
import HubStore
import UnixSignals

struct DbCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Run only the embedded PostgreSQL, in the foreground, until SIGTERM or SIGINT.",
        discussion: """
            For psql sessions, benchmarks and tools against the local data folder. The connection URL
            holds the generated password, so it is written to a file readable only by you, never printed.

            Examples:
              tributary db --url-file /tmp/tributary.url
              psql "$(cat /tmp/tributary.url)"

            The server keeps its port across restarts (it is remembered in the data folder), so a
            URL written once keeps working; --port chooses it.
            """
    )

    @Option(help: "Local data folder (default: TRIBUTARY_DATA_DIR or .tributary).")
    var dataDir: String?

    @Option(help: "Loopback port to listen on (default: the port of the previous start, else a free one).")
    var port: Int?

    @Option(help: "Write the database URL (with its password) to this file, mode 0600.")
    var urlFile: String?

    func validate() throws {
        if let port, !(1...65535).contains(port) {
            throw ValidationError("--port \(port) is not a TCP port: use 1 to 65535")
        }
    }

    func run() async throws {
        var configuration = try CommandEnvironment.configuration()
        if let dataDir { configuration.dataDirectory = dataDir }
        configuration.databaseURL = nil
        let logger = CommandEnvironment.bootstrapLogging(configuration, server: false)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let embedded = EmbeddedPostgresConfiguration(rootDirectory: configuration.dataDirectory, port: port)
        try await HubRuntime.withDatabase(configuration, embedded: embedded, administrator: true, logger: logger) { databases in
            let url = databases.main
            if let urlFile {
                try writePrivateFile(urlFile, contents: url.revealedString + "\n")
            }
            printError("PostgreSQL is running on 127.0.0.1:\(url.port), database \(url.database) (Ctrl-C stops it)")
            for await _ in signals { break }
        }
    }
}
