import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubQueue
import HubStore
import HubSync

struct TenantsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants",
        abstract: "Create, list and delete tenants, the isolation boundary of all data, and set their share of the sync workers.",
        subcommands: [TenantsCreateCommand.self, TenantsListCommand.self, TenantsQuotaCommand.self, TenantsDeleteCommand.self]
    )
}

struct TenantsCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a tenant and print its id.",
        discussion: "Examples:\n  tributary tenants create \"Acme Corp\"\n  tributary tenants create acme --json"
    )

    @Argument(help: "A name for people (1 to 200 characters).") var name: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let tenant = try await CommandEnvironment.withStore { store in
            try await store.tenants.create(name: name)
        }
        if json {
            struct Output: Encodable { let id: String; let name: String }
            print(try CLIOutput.json(Output(id: tenant.id.description, name: tenant.name)))
        } else {
            print(tenant.id.description)
        }
    }
}

struct TenantsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List tenants.", discussion: "Example:\n  tributary tenants list --json"
    )

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let tenants = try await CommandEnvironment.withStore { store in try await store.tenants.list().map(\.tenant) }
        if json {
            struct Row: Encodable { let id: String; let name: String; let createdAt: Date; let shreddedAt: Date? }
            print(try CLIOutput.json(tenants.map { Row(id: $0.id.description, name: $0.name, createdAt: $0.createdAt, shreddedAt: $0.shreddedAt) }))
            return
        }
        guard !tenants.isEmpty else {
            print("no tenants yet: create one with `tributary tenants create NAME`")
            return
        }
        print(CLIOutput.table(
            header: ["ID", "NAME", "STATE"],
            rows: tenants.map { [$0.id.description, $0.name, $0.shreddedAt == nil ? "active" : "shredded"] }
        ))
    }
}

struct TenantsDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a tenant by destroying its keys (crypto-shredding), then its rows.",
        discussion: """
            Irreversible: afterwards no copy of the tenant's encrypted data, backups included, can be
            decrypted. Asks for the tenant id to confirm unless --yes is given.

            Example:
              tributary tenants delete 6f1c… --shred --yes
            """
    )

    @Argument(help: "The tenant id.") var id: String
    @Flag(help: "Destroy the tenant's keys (required: deleting always shreds).") var shred = false
    @Flag(help: "Do not ask for confirmation.") var yes = false

    func validate() throws {
        guard TenantID(id) != nil else { throw ValidationError("'\(id)' is not a tenant id (a UUID)") }
        guard shred else {
            throw ValidationError("add --shred: deleting a tenant destroys its keys, so that no backup of its data can be read either")
        }
    }

    func run() async throws {
        guard let tenantID = TenantID(id) else { throw ValidationError("'\(id)' is not a tenant id") }
        try await CommandEnvironment.withStore { store in
            let tenant = try await store.tenants.get(tenantID)
            if !yes {
                printError("This destroys the keys of tenant \(tenant.id) (\(tenant.name)) and deletes its data. It cannot be undone.")
                printError("Type the tenant id to confirm: ", terminator: "")
                guard let answer = readLine(), answer.trimmingCharacters(in: .whitespaces) == tenant.id.description else {
                    throw HubError(.invalidInput, "not confirmed; nothing was changed (pass --yes to skip the question)")
                }
            }
            try await store.keys.shred(tenant: tenantID)
            try await store.jobs.removeShares(key: tenantID.description)
            print("tenant \(tenantID) shredded: its keys are destroyed and its rows deleted;")
            print("no copy of its encrypted data, backups included, can be decrypted any more")
        }
    }
}

struct TenantsQuotaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Show or set a tenant's share of the sync workers: its weight in the turns and its cap on running syncs.",
        discussion: """
            Syncs of tenants with work waiting are started in turns. A tenant of weight 2 takes two
            turns for each of a weight-1 tenant; --max-running caps how many of its syncs run at once
            across every worker, so one tenant's long syncs never hold every slot. `default` in
            place of a tenant id sets what applies to every tenant without a quota of its own.
            Changes hold from the next claim on, in every worker.

            Examples:
              tributary tenants quota 6f1c…                    # show
              tributary tenants quota 6f1c… --weight 3 --max-running 8
              tributary tenants quota default --max-running 4
              tributary tenants quota 6f1c… --inherit           # back to the default
            """
    )

    @Argument(help: "The tenant id, or `default`.") var id: String
    @Option(help: "Turns taken for each of a weight-1 tenant (1 to 100).") var weight: Int?
    @Option(help: "At most this many of the tenant's syncs run at once (1 to 10000).") var maxRunning: Int?
    @Flag(help: "Drop the tenant's own quota: the default applies again.") var inherit = false
    @Flag(help: "Print JSON.") var json = false

    var key: String? { id == "default" ? QueueShare.defaultKey : TenantID(id)?.description }

    func validate() throws {
        guard key != nil else { throw ValidationError("'\(id)' is neither a tenant id (a UUID) nor `default`") }
        if inherit, weight != nil || maxRunning != nil { throw ValidationError("--inherit drops the quota: give it alone") }
        do { try QueueShare(weight: weight, maxRunning: maxRunning).validate() } catch let error as HubError {
            throw ValidationError(error.message.replacingOccurrences(of: "max_running", with: "--max-running")
                .replacingOccurrences(of: "weight", with: "--weight"))
        }
    }

    func run() async throws {
        guard let key else { throw ValidationError("'\(id)' is neither a tenant id nor `default`") }
        let (own, fallback) = try await CommandEnvironment.withStore { store in
            if let tenant = TenantID(id) { _ = try await store.tenants.get(tenant) }
            let queue = store.jobs
            if inherit {
                try await queue.setShare(QueueShare(), queue: SyncJobs.queue, key: key)
            } else if weight != nil || maxRunning != nil {
                // Unset options keep their stored value: `--weight 2` alone leaves the cap.
                var share = try await queue.share(queue: SyncJobs.queue, key: key)
                if let weight { share.weight = weight }
                if let maxRunning { share.maxRunning = maxRunning }
                try await queue.setShare(share, queue: SyncJobs.queue, key: key)
            }
            return (try await queue.share(queue: SyncJobs.queue, key: key),
                    try await queue.share(queue: SyncJobs.queue, key: QueueShare.defaultKey))
        }
        let isDefault = key == QueueShare.defaultKey
        let effectiveWeight = own.weight ?? (isDefault ? nil : fallback.weight) ?? 1
        let effectiveCap = own.maxRunning ?? (isDefault ? nil : fallback.maxRunning)
        if json {
            struct Output: Encodable { let tenant: String; let weight: Int; let maxRunning: Int?; let inherited: [String] }
            var inherited: [String] = []
            if own.weight == nil { inherited.append("weight") }
            if own.maxRunning == nil { inherited.append("max_running") }
            print(try CLIOutput.json(Output(tenant: id, weight: effectiveWeight, maxRunning: effectiveCap, inherited: isDefault ? [] : inherited)))
            return
        }
        func origin(_ value: Int?) -> String { value == nil && !isDefault ? " (the default)" : "" }
        print("\(isDefault ? "default quota" : "tenant \(id)"): weight \(effectiveWeight)\(origin(own.weight)), "
              + "max running syncs \(effectiveCap.map(String.init) ?? "unlimited")\(origin(own.maxRunning))")
    }
}
