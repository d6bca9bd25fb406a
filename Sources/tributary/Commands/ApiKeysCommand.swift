import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubStore

struct ApiKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-keys",
        abstract: "Create, list and revoke API keys for the REST API.",
        subcommands: [ApiKeysCreateCommand.self, ApiKeysListCommand.self, ApiKeysRevokeCommand.self]
    )
}

struct ApiKeysCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create an API key and print it once; only its hash is stored.",
        discussion: """
            Tenant scopes: records:read, records:read-sensitive, connections:write.
            Operator scopes (a key without --tenant): admin (tenants, jobs) and connectors:write
            (publish connector versions, which every tenant's connections can run).

            Examples:
              tributary api-keys create --tenant $TENANT --scope records:read --name dashboard
              tributary api-keys create --tenant $TENANT --scope records:read --scope records:read-sensitive --expires-days 30
              tributary api-keys create --scope connectors:write --name publisher
            """
    )

    @Option(help: "The tenant the key reads and writes (omit for an operator key).") var tenant: String?
    @Option(help: "A scope (repeatable).") var scope: [String] = []
    @Option(help: "A name to recognise the key by.") var name = ""
    @Option(help: "Days until the key expires (default: never).") var expiresDays: Int?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let tenantID = try tenant.map { text -> TenantID in
            guard let id = TenantID(text) else { throw ValidationError("--tenant must be a tenant id (a UUID)") }
            return id
        }
        let scopes = try Set(scope.map { text -> ApiScope in
            guard let parsed = ApiScope(rawValue: text) else {
                throw ValidationError("unknown scope '\(text)'; scopes are \(ApiScope.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return parsed
        })
        if let expiresDays, expiresDays < 1 { throw ValidationError("--expires-days must be at least 1") }
        let expiresAt = expiresDays.map { Date().addingTimeInterval(Double($0) * 86_400) }
        let created = try await CommandEnvironment.withStore { store in
            try await ApiKeyStore(client: store.client, logger: store.logger).create(tenant: tenantID, name: name, scopes: scopes, expiresAt: expiresAt)
        }
        if json {
            struct Output: Encodable { let id: String; let key: String; let prefix: String }
            print(try CLIOutput.json(Output(id: created.id.uuidString.lowercased(), key: created.key.revealed, prefix: created.prefix)))
        } else {
            print(created.key.revealed)
            printError("this is the only time the key is shown; store it now (id \(created.id.uuidString.lowercased()))")
        }
    }
}

struct ApiKeysListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List API keys (never their secrets).",
        discussion: "Example:\n  tributary api-keys list --tenant $TENANT"
    )

    @Option(help: "Only this tenant's keys.") var tenant: String?

    func run() async throws {
        let tenantID = try tenant.map { text -> TenantID in
            guard let id = TenantID(text) else { throw ValidationError("--tenant must be a tenant id (a UUID)") }
            return id
        }
        let keys = try await CommandEnvironment.withStore { store in try await ApiKeyStore(client: store.client, logger: store.logger).list(tenant: tenantID) }
        guard !keys.isEmpty else { print("no API keys"); return }
        print(CLIOutput.table(header: ["ID", "PREFIX", "NAME", "SCOPES", "STATE"], rows: keys.map { key in
            let state = key.revokedAt != nil ? "revoked" : (key.expiresAt.map { $0 < Date() } ?? false) ? "expired" : "active"
            return [key.id.uuidString.lowercased(), "trb_\(key.prefix)", key.name, key.scopes.joined(separator: ","), state]
        }))
    }
}

struct ApiKeysRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke an API key; requests with it fail from now on.",
        discussion: "Example:\n  tributary api-keys revoke $KEY_ID"
    )

    @Argument(help: "The key's id.") var id: String

    func run() async throws {
        guard let keyID = UUID(uuidString: id) else { throw ValidationError("the key id must be a UUID") }
        try await CommandEnvironment.withStore { store in try await ApiKeyStore(client: store.client, logger: store.logger).revoke(keyID) }
        print("revoked")
    }
}
