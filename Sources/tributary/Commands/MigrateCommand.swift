import ArgumentParser
import HubApp
import HubStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations.",
        discussion: """
            Applies the migrations built into this binary, in order, each in its own transaction,
            under an advisory lock (processes migrating at once apply each file exactly once).
            Refuses to run when an applied migration's file was edited since.

            Examples:
              tributary migrate --dry-run
              TRIBUTARY_DATABASE_URL=postgres://tributary:...@db:5432/tributary tributary migrate
            """
    )

    @Flag(help: "Show what would be applied without changing the database.")
    var dryRun = false

    func run() async throws {
        let configuration = try CommandEnvironment.configuration()
        let logger = CommandEnvironment.bootstrapLogging(configuration, server: false)
        let report = try await HubRuntime.withDatabase(configuration, logger: logger) { url in
            try await HubRuntime.migrate(url, dryRun: dryRun, logger: logger) { event in
                switch event {
                case .wouldApply(let migration): print("would apply \(migration.name)")
                case .applying(let migration): print("applying \(migration.name) ...")
                case .applied(let migration, let milliseconds): print("applied  \(migration.name) in \(milliseconds) ms")
                }
            }
        }
        if dryRun {
            print("dry run: nothing was changed")
        } else if report.applied.isEmpty {
            print("schema is current: all \(report.alreadyApplied) migrations were already applied")
        } else {
            print("schema is current: applied \(report.applied.count), \(report.alreadyApplied) were already applied")
        }
    }
}
