import ArgumentParser
import Foundation
import HubAirbyteProcess
import HubApp
import HubConnectors
import HubCore
import HubStore
import HubSync

struct ConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "Create and manage connections: one connector, configured for one account.",
        subcommands: [ConnectionsCreateCommand.self, ConnectionsListCommand.self, ConnectionsPauseCommand.self,
                      ConnectionsResumeCommand.self]
    )
}

struct ConnectionsCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a connection; its configuration (credentials included) is read from stdin or a file.",
        discussion: """
            The configuration is the connector's JSON config. Credential fields (the spec's
            airbyte_secret fields and hub.yaml's `credentials`) are encrypted under the tenant's
            key and never shown again; the rest is stored as plain configuration. Credentials are
            never taken as command arguments, where other users of the machine could read them.

            Examples:
              tributary connections create --tenant $TENANT --connector gocardless --config-file secrets/gc.json
              pass show gocardless | tributary connections create --tenant $TENANT --connector gocardless
            """
    )

    @Option(help: "The tenant id.") var tenant: String
    @Option(help: "The connector name.") var connector: String
    @Option(help: "The connector version (default: the latest).") var version: Int?
    @Option(help: "The account this connection pulls for, in your terms (used for per-account limits).") var account = ""
    @Option(name: .customLong("config-file"), help: "Read the JSON configuration from this file instead of stdin.") var configFile: String?
    @Option(help: "Seconds between scheduled syncs (default: the connector's schedule).") var scheduleSeconds: Int?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        guard let tenantID = TenantID(tenant) else { throw ValidationError("--tenant must be a tenant id (a UUID)") }
        let bytes: Data
        if let configFile {
            guard let data = FileManager.default.contents(atPath: configFile) else {
                throw ValidationError("cannot read the config file \(configFile)")
            }
            bytes = data
        } else {
            bytes = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard case .dict(let config) = try PyValue.parseJSON(Array(bytes)) else {
            throw ValidationError("the configuration must be a JSON object")
        }
        let (id, definitionVersion) = try await CommandEnvironment.withStore { store in
            let service = ConnectionService(client: store.client, keyring: store.keyring, catalog: ConnectorCatalog(store: store.connectors),
                                            processes: store.processes,
                                            logger: store.logger)
            return try await service.create(.init(tenant: tenantID, connector: connector, version: version, account: account,
                                                  config: config.entries.reduce(into: [:]) { $0[$1.key.text] = $1.value.json },
                                                  scheduleSeconds: scheduleSeconds))
        }
        if json {
            struct Output: Encodable { let id: String; let connector: String; let version: Int }
            print(try CLIOutput.json(Output(id: id.uuidString.lowercased(), connector: connector, version: definitionVersion)))
        } else {
            print(id.uuidString.lowercased())
        }
    }

}

struct ConnectionsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List connections.", discussion: "Example:\n  tributary connections list --tenant $TENANT"
    )

    @Option(help: "Only this tenant's connections.") var tenant: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let tenantID = try tenant.map { text -> TenantID in
            guard let id = TenantID(text) else { throw ValidationError("--tenant must be a tenant id (a UUID)") }
            return id
        }
        let connections = try await CommandEnvironment.withStore { store in try await store.connections.list(tenant: tenantID) }
        if json {
            struct Row: Encodable {
                let id: String; let tenant: String; let connector: String; let version: Int; let account: String
                let status: String; let lastError: String?
            }
            print(try CLIOutput.json(connections.map {
                Row(id: $0.id.uuidString.lowercased(), tenant: $0.tenant.description, connector: $0.connector,
                    version: $0.connectorVersion, account: $0.externalAccount, status: $0.status.rawValue, lastError: $0.lastError)
            }))
            return
        }
        guard !connections.isEmpty else { print("no connections yet"); return }
        print(CLIOutput.table(header: ["ID", "CONNECTOR", "ACCOUNT", "STATUS"],
                              rows: connections.map { [$0.id.uuidString.lowercased(), "\($0.connector) v\($0.connectorVersion)",
                                                       $0.externalAccount, $0.status.rawValue] }))
    }
}

struct ConnectionsPauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Pause a connection: no scheduled syncs until resumed.",
        discussion: "Example:\n  tributary connections pause $CONNECTION --tenant $TENANT"
    )
    @Argument(help: "The connection id.") var connection: String
    @Option(help: "The tenant id.") var tenant: String

    func run() async throws {
        try await ConnectionsStatus.set(connection, tenant, .paused)
        print("paused")
    }
}

struct ConnectionsResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume a paused connection.",
        discussion: "Example:\n  tributary connections resume $CONNECTION --tenant $TENANT"
    )
    @Argument(help: "The connection id.") var connection: String
    @Option(help: "The tenant id.") var tenant: String

    func run() async throws {
        try await ConnectionsStatus.set(connection, tenant, .active)
        print("resumed")
    }
}

enum ConnectionsStatus {
    static func set(_ connection: String, _ tenant: String, _ status: ConnectionStatus) async throws {
        guard let id = UUID(uuidString: connection) else { throw ValidationError("the connection id must be a UUID") }
        guard let tenantID = TenantID(tenant) else { throw ValidationError("--tenant must be a tenant id (a UUID)") }
        try await CommandEnvironment.withStore { store in try await store.connections.setStatus(connection: id, tenant: tenantID, status: status) }
    }
}
