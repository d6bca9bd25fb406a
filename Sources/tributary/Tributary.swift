import ArgumentParser
import Foundation
import HubCore

/// The `tributary` command: one binary for every role and every operator task.
struct Tributary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tributary",
        abstract: "Tributary: pull your users' data out of third-party APIs, encrypted, into one PostgreSQL.",
        discussion: """
            Configuration comes from TRIBUTARY_* environment variables (docs/configuration.md).
            Without TRIBUTARY_DATABASE_URL, commands use an embedded PostgreSQL in TRIBUTARY_DATA_DIR.

            Exit codes: 0 success, 1 runtime failure, 2 usage error.
            """,
        subcommands: [
            DemoCommand.self, DevCommand.self, ServeCommand.self, MigrateCommand.self, TenantsCommand.self, KeysCommand.self, JobsCommand.self,
            QueuesCommand.self, DbCommand.self, ConnectorsCommand.self, ModelsCommand.self, ConnectionsCommand.self, SyncCommand.self, ApiKeysCommand.self,
            VersionCommand.self,
        ]
    )
}

@main
enum Main {
    static func main() async {
        do {
            var command = try Tributary.parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch {
            exit(report(error))
        }
    }

    /// Prints what went wrong and picks the exit code: 2 for a usage error, 1 for a failure.
    static func report(_ error: any Error) -> Int32 {
        if let error = error as? HubError {
            printError("error: \(error.message)")
            return 1
        }
        let code = Tributary.exitCode(for: error)
        let message = Tributary.fullMessage(for: error)
        if code == .success {
            print(message)
            return 0
        }
        if !message.isEmpty { printError(message) }
        if code == .validationFailure { return 2 }
        return code.rawValue == 0 ? 1 : code.rawValue
    }
}

func printError(_ message: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((message + terminator).utf8))
}
