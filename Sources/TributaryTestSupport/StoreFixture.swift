import Foundation
import HubCore
import HubCrypto
import HubStore
import Logging
import PostgresNIO

/// A tenant with a connection, on a migrated test database: the starting point of store tests.
public struct StoreFixture: Sendable {
    public let client: PostgresClient
    public let keyring: Keyring
    public let tenant: TenantID
    public let connection: UUID
    public var logger: Logger { TestDatabase.logger }

    public var writer: RecordWriter { RecordWriter(client: client, keyring: keyring, logger: logger) }
    public var reader: RecordReader { RecordReader(client: client, keyring: keyring, logger: logger) }
    public var keys: KeyAdministration { KeyAdministration(client: client, keyring: keyring, logger: logger) }
    public var connections: ConnectionStore { ConnectionStore(client: client, keyring: keyring, logger: logger) }

    /// A new tenant (and connector `test-crm` v1, and a connection holding `credentials`);
    /// keys, credentials and the audit log in `vault` when given.
    public static func make(
        client: PostgresClient, vault: PostgresClient? = nil, kek: any KeyEncryptionKeyProvider,
        credentials: String = "{\"api_key\":\"sk_test\"}"
    ) async throws -> StoreFixture {
        let logger = TestDatabase.logger
        let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
        let tenant = try await TenantStore(client: client, logger: logger).create(name: "tenant \(UUID().uuidString.prefix(6))")
        try await client.query(
            """
            INSERT INTO connectors (name, version, manifest, sidecar, checksum)
            VALUES ('test-crm', 1, 'version: 0.1', 'sensitive: []', 'x') ON CONFLICT DO NOTHING
            """,
            logger: logger
        )
        let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
            tenant: tenant.id, connector: "test-crm", connectorVersion: 1, credentials: Secret(Array(credentials.utf8))
        )
        return StoreFixture(client: client, keyring: keyring, tenant: tenant.id, connection: connection)
    }

    public func key(_ externalID: String, stream: String = "contacts") -> RecordKey {
        RecordKey(connection: connection, stream: stream, externalID: externalID)
    }
}

/// Fresh key-encryption keys for tests.
public enum TestKeys {
    public static func kek() throws -> LocalKeyEncryptionKey {
        try LocalKeyEncryptionKey(base64: LocalKeyEncryptionKey.generateBase64(), source: "test key")
    }

    /// A contact with sensitive email and phone, the email blind-indexed.
    public static let contactPolicy = RecordPolicy(
        sensitiveFields: ["email", "phone"],
        blindIndexes: [
            BlindIndexField(name: "email", normalizer: .lowercaseTrim), BlindIndexField(name: "phone", normalizer: .digits),
        ]
    )

    public static func contact(_ id: Int, email: String? = nil, phone: String? = nil) -> RecordWriter.Input {
        RecordWriter.Input(
            externalID: "\(id)",
            fields: [
                "id": .string("\(id)"), "name": .string("Contact \(id)"),
                "email": .string(email ?? "contact\(id)@example.com"), "phone": .string(phone ?? "+1 555 01\(id)"),
            ]
        )
    }
}
