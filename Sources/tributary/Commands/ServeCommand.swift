import ArgumentParser
import HubApp
import Logging

/// Which roles `serve` runs; `all` is every role this build has.
enum RoleChoice: String, ExpressibleByArgument, CaseIterable {
    case api, worker, scheduler, all
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one role (api, worker, scheduler) or all of them, until SIGTERM or SIGINT.",
        discussion: """
            Refuses to start unless the database schema matches this binary (run `tributary migrate`).
            Stops gracefully on SIGTERM/SIGINT within TRIBUTARY_SHUTDOWN_GRACE_SECONDS.

            Examples:
              tributary serve --role api
              TRIBUTARY_HTTP_ADDRESS=0.0.0.0:8080 tributary serve --role all
            """
    )

    @Option(help: "The role to run: \(RoleChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var role: RoleChoice = .all

    func validate() throws {
        _ = try roles()
    }

    func roles() throws -> [Role] {
        guard role != .all else { return Role.available }
        guard let chosen = Role(rawValue: role.rawValue), Role.available.contains(chosen) else {
            throw ValidationError("this build cannot run the \(role.rawValue) role")
        }
        return [chosen]
    }

    func run() async throws {
        let configuration = try CommandEnvironment.configuration()
        let logger = CommandEnvironment.bootstrapLogging(configuration, server: true)
        let roles = try roles()
        try await HubRuntime.withDatabase(configuration, logger: logger) { databases in
            try await HubRuntime.serve(roles: roles, configuration: configuration, databases: databases, logger: logger) { port in
                logger.info("api listening", metadata: ["hub.http.port": "\(port)"])
            }
        }
    }
}
