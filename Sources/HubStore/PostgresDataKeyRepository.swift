import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Wrapped tenant keys in the vault's `data_keys` table (docs/vault.md). The vault is the
/// main database itself when no separate one is configured.
///
/// The keyring built on this repository carries the vault to every store that holds secrets:
/// connection credentials and the audit log live where the keys live (`Keyring.vault(or:)`),
/// so a process can never put keys in one database and credentials in another.
public struct PostgresDataKeyRepository: DataKeyRepository {
    /// The main database: `tenants`.
    let client: PostgresClient
    /// The vault database: keys, credentials, the audit log.
    public let vault: PostgresClient
    let logger: Logger

    /// - Parameters:
    ///   - client: the main database.
    ///   - vault: the vault database, or nil when its tables live in the main one.
    public init(client: PostgresClient, vault: PostgresClient? = nil, logger: Logger) {
        self.client = client
        self.vault = vault ?? client
        self.logger = logger
    }

    public func dataKeys(for tenant: TenantID, purpose: WrappedDataKey.Purpose) async throws -> [WrappedDataKey] {
        try await withDatabaseErrors("reading the keys of tenant \(tenant)") {
            let rows = try await vault.query(
                """
                SELECT version, wrapped_key, kek_id, state FROM data_keys
                WHERE tenant_id = \(tenant.rawValue) AND purpose = \(purpose.rawValue) ORDER BY version
                """,
                logger: logger
            )
            var keys: [WrappedDataKey] = []
            for try await (version, wrapped, kekID, state) in rows.decode((Int, ByteBuffer?, String, String).self) {
                keys.append(
                    WrappedDataKey(
                        tenant: tenant, purpose: purpose, version: version, wrapped: wrapped.map { Array($0.readableBytesView) },
                        kekID: kekID, state: WrappedDataKey.State(rawValue: state) ?? .retired
                    )
                )
            }
            return keys
        }
    }

    /// Stores a key, written before anything is sealed under it (rule 1 of docs/vault.md).
    /// The tenant must exist in the main database; the vault's own tenant row is locked for
    /// the insert, as a shred locks it, so a key can never land after its tenant's shred.
    public func insertDataKey(_ key: WrappedDataKey) async throws {
        try await withDatabaseErrors("storing a key of tenant \(key.tenant)") {
            let exists = try await client.query("SELECT shredded_at IS NULL FROM tenants WHERE id = \(key.tenant.rawValue)", logger: logger)
            var live: Bool?
            for try await value in exists.decode(Bool.self) { live = value }
            guard let live else { throw HubError(.notFound, "tenant \(key.tenant) does not exist") }
            guard live else { throw Self.shredded(key.tenant) }
            try await vault.withGuardedTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO vault_tenants (tenant_id) VALUES (\(key.tenant.rawValue))
                    ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
                    RETURNING shredded_at IS NOT NULL
                    """,
                    logger: logger
                )
                for try await shredded in rows.decode(Bool.self) where shredded { throw Self.shredded(key.tenant) }
                try await connection.query(
                    """
                    INSERT INTO data_keys (tenant_id, purpose, version, wrapped_key, kek_id, state)
                    VALUES (\(key.tenant.rawValue), \(key.purpose.rawValue), \(key.version),
                            \(key.wrapped.map { ByteBuffer(bytes: $0) }), \(key.kekID), \(key.state.rawValue))
                    """,
                    logger: logger
                )
            }
        }
    }

    private static func shredded(_ tenant: TenantID) -> HubError {
        HubError(.keyShredded, "tenant \(tenant) was shredded; it cannot get new keys")
    }
}

extension Keyring {
    /// The database this keyring's keys live in, which holds credentials and the audit log
    /// too; `main` when the keys are not in PostgreSQL (tests with an in-memory repository).
    public func vault(or main: PostgresClient) -> PostgresClient {
        (repository as? PostgresDataKeyRepository)?.vault ?? main
    }
}
