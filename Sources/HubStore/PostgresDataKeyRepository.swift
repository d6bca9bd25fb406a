import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// Wrapped tenant keys in the `data_keys` table.
public struct PostgresDataKeyRepository: DataKeyRepository {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func dataKeys(for tenant: TenantID, purpose: WrappedDataKey.Purpose) async throws -> [WrappedDataKey] {
        try await withDatabaseErrors("reading the keys of tenant \(tenant)") {
            let rows = try await client.query(
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

    public func insertDataKey(_ key: WrappedDataKey) async throws {
        try await withDatabaseErrors("storing a key of tenant \(key.tenant)") {
            let exists = try await client.query("SELECT shredded_at IS NULL FROM tenants WHERE id = \(key.tenant.rawValue)", logger: logger)
            var live: Bool?
            for try await value in exists.decode(Bool.self) { live = value }
            guard let live else { throw HubError(.notFound, "tenant \(key.tenant) does not exist") }
            guard live else {
                throw HubError(.keyShredded, "tenant \(key.tenant) was shredded; it cannot get new keys")
            }
            try await client.query(
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
