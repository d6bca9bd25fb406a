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

            With TRIBUTARY_VAULT_DATABASE_URL set, the vault database is migrated too
            (migrations-vault/). An install that kept its secrets in the main database moves
            them with --split-vault: batch by batch, each copied, checked (every key unwraps,
            every credential opens) and only then deleted from the main database. Stop the
            api and worker roles first; a stopped split is finished by running it again.

            Examples:
              tributary migrate --dry-run
              TRIBUTARY_VAULT_DATABASE_URL=postgres://vault:...@vault-db:5432/vault tributary migrate --split-vault
              TRIBUTARY_DATABASE_URL=postgres://tributary:...@db:5432/tributary tributary migrate
            """
    )

    @Flag(help: "Show what would be applied without changing the database.")
    var dryRun = false

    @Flag(help: "Move the keys, credentials and audit log of a one-database install into the vault database (TRIBUTARY_VAULT_DATABASE_URL); resumable.")
    var splitVault = false

    func run() async throws {
        let configuration = try CommandEnvironment.configuration()
        let logger = CommandEnvironment.bootstrapLogging(configuration, server: false)
        // The split checks every key it moves, so it needs the master key; plain migrations don't.
        let kek = splitVault ? try MasterKey.load(configuration) : nil
        let report = try await HubRuntime.withDatabase(configuration, logger: logger) { databases in
            try await HubRuntime.migrate(databases, dryRun: dryRun, splitVault: splitVault, kek: kek, logger: logger) { event in
                switch event {
                case .wouldApply(let migration): print("would apply \(migration.name)")
                case .applying(let migration): print("applying \(migration.name) ...")
                case .applied(let migration, let milliseconds): print("applied  \(migration.name) in \(milliseconds) ms")
                }
            } splitProgress: { step in
                print("vault: \(step.table): \(step.moved) moved, \(step.remaining) left")
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
