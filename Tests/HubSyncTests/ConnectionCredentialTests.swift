import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import PostgresNIO
import Testing
import TributaryTestSupport

/// Where stored credentials may go: never to a host a config change or a version upgrade
/// points them at without their being sent again; and nested secrets are sealed too.
@Suite("Connection credentials")
struct ConnectionCredentialTests {
    static func manifest(urlBase: String) -> String {
        """
        version: 6.0.0
        type: DeclarativeSource
        spec:
          type: Spec
          connection_specification:
            type: object
            properties:
              host: {type: string}
              api_key: {type: string, airbyte_secret: true}
              oauth:
                type: object
                properties:
                  client_id: {type: string}
                  client_secret: {type: string, airbyte_secret: true}
        streams:
          - type: DeclarativeStream
            name: items
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester: {type: HttpRequester, url_base: "\(urlBase)", path: /items}
              record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
        """
    }

    @Test("an upgrade to a version whose URLs read a field needs the credentials again; nested secrets are sealed")
    func upgradeCannotCarryCredentialsToANewHost() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let logger = TestDatabase.logger
            let vault = try await TestDatabase.vault(for: client)
            let keyring = Keyring(kek: try TestKeys.kek(), repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
            let tenant = try await TenantStore(client: client, logger: logger).create(name: "upgrade test").id
            let connectors = ConnectorStore(client: client, logger: logger)
            _ = try await connectors.register(name: "mover", manifest: Self.manifest(urlBase: "https://api.example.com"), sidecar: "")
            let (v2, _) = try await connectors.register(name: "mover", manifest: Self.manifest(urlBase: "https://{{ config['host'] }}"), sidecar: "")
            let service = ConnectionService(client: client, keyring: keyring, catalog: ConnectorCatalog(store: connectors), logger: logger)
            // Under v1 the host field reads nowhere, so setting it is harmless...
            let (id, _) = try await service.create(.init(tenant: tenant, connector: "mover", version: 1, config: [
                "host": .string("attacker.example"), "api_key": .string("sk_live_1"),
                "oauth": .object(["client_id": .string("app"), "client_secret": .string("cs_live_1")]),
            ]))
            // The nested secret's whole field is sealed: not in the plain config.
            let info = try await ConnectionStore(client: client, logger: logger).connection(id)
            #expect(info.config.objectValue?["oauth"] == nil)
            #expect(info.config.objectValue?["host"] == .string("attacker.example"))
            // ...until the connection moves to v2, whose URL reads it: refused without the credentials.
            let refused = await #expect(throws: HubError.self) {
                try await service.update(.init(tenant: tenant, connection: id, connectorVersion: v2))
            }
            #expect(refused?.message.contains("config.host decides where mover's requests go") == true, "\(String(describing: refused))")
            #expect(try await ConnectionStore(client: client, logger: logger).connection(id).connectorVersion == 1)
            // With them sent again, the owner moves it.
            try await service.update(.init(tenant: tenant, connection: id, config: [
                "host": .string("api2.example.com"), "api_key": .string("sk_live_2"),
                "oauth": .object(["client_id": .string("app"), "client_secret": .string("cs_live_2")]),
            ], connectorVersion: v2))
            #expect(try await ConnectionStore(client: client, logger: logger).connection(id).connectorVersion == v2)
        }
    }
}
