import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubStore

struct TenantsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants",
        abstract: "Create, list and delete tenants, the isolation boundary of all data.",
        subcommands: [TenantsCreateCommand.self, TenantsListCommand.self, TenantsDeleteCommand.self]
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
            print("tenant \(tenantID) shredded: its keys are destroyed and its rows deleted;")
            print("no copy of its encrypted data, backups included, can be decrypted any more")
        }
    }
}
