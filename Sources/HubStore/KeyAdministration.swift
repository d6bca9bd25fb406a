import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Key lifecycle over the store: status, re-encryption after rotation, retirement,
/// crypto-shredding and key-encryption-key rotation.
public struct KeyAdministration: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger

    public init(client: PostgresClient, keyring: Keyring, logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.logger = logger
    }

    /// One key version of one tenant and the rows sealed under it.
    public struct VersionStatus: Sendable, Equatable {
        public let tenant: TenantID
        public let purpose: WrappedDataKey.Purpose
        public let version: Int
        public let state: WrappedDataKey.State
        public let kekID: String
        public let records: Int
        public let connections: Int
    }

    public func status(tenant: TenantID? = nil) async throws -> [VersionStatus] {
        try await withDatabaseErrors("reading key status") {
            let rows = try await client.query(
                """
                SELECT k.tenant_id, k.purpose, k.version, k.state, k.kek_id,
                       (SELECT count(*) FROM records r
                         WHERE k.purpose = 'data' AND r.tenant_id = k.tenant_id AND r.key_version = k.version
                           AND r.sensitive IS NOT NULL)::int8,
                       (SELECT count(*) FROM connections c
                         WHERE k.purpose = 'data' AND c.tenant_id = k.tenant_id AND c.credentials_key_version = k.version)::int8
                FROM data_keys k
                WHERE \(tenant?.rawValue)::uuid IS NULL OR k.tenant_id = \(tenant?.rawValue)
                ORDER BY k.tenant_id, k.purpose, k.version
                """,
                logger: logger
            )
            var result: [VersionStatus] = []
            for try await (id, purpose, version, state, kek, records, connections)
                in rows.decode((UUID, String, Int, String, String, Int, Int).self)
            {
                result.append(
                    VersionStatus(
                        tenant: TenantID(id), purpose: WrappedDataKey.Purpose(rawValue: purpose) ?? .data, version: version,
                        state: WrappedDataKey.State(rawValue: state) ?? .retired, kekID: kek, records: records,
                        connections: connections
                    )
                )
            }
            return result
        }
    }

    /// Tenants that have data keys (and so may need rotation or re-encryption).
    public func tenantsWithKeys() async throws -> [TenantID] {
        try await withDatabaseErrors("listing tenants with keys") {
            let rows = try await client.query(
                "SELECT DISTINCT tenant_id FROM data_keys WHERE purpose = 'data' AND state = 'active' ORDER BY tenant_id",
                logger: logger
            )
            var tenants: [TenantID] = []
            for try await id in rows.decode(UUID.self) { tenants.append(TenantID(id)) }
            return tenants
        }
    }

    /// Progress of a re-encryption pass.
    public struct ReencryptionProgress: Sendable {
        public let tenant: TenantID
        public let targetVersion: Int
        public let moved: Int
        public let remaining: Int
    }

    /// Moves every ciphertext of the tenant sealed under an older data key to the newest one,
    /// one batch per transaction. Stopping at any point loses nothing: a batch commits whole
    /// or not at all, and the next run picks up whatever is still under an older version.
    @discardableResult
    public func reencrypt(
        tenant: TenantID, batchSize: Int = 500, progress: @Sendable (ReencryptionProgress) -> Void = { _ in }
    ) async throws -> Int {
        keyring.forget(tenant)
        let target = try await keyring.encryptionKey(for: tenant)
        var remaining = try await countBelow(tenant: tenant, version: target.version)
        var moved = 0
        progress(ReencryptionProgress(tenant: tenant, targetVersion: target.version, moved: 0, remaining: remaining))
        for table in [SealedColumn.records, .connections, .webhookEvents, .unifiedSources] {
            while true {
                let count = try await reencryptBatch(table, tenant: tenant, target: target, batchSize: batchSize)
                if count == 0 { break }
                moved += count
                remaining = max(0, remaining - count)
                progress(ReencryptionProgress(tenant: tenant, targetVersion: target.version, moved: moved, remaining: remaining))
            }
        }
        return moved
    }

    /// Rows of the tenant still sealed under a data key older than `version`.
    public func countBelow(tenant: TenantID, version: Int) async throws -> Int {
        try await withDatabaseErrors("counting rows to re-encrypt") {
            let rows = try await client.query(
                """
                SELECT (SELECT count(*) FROM records WHERE tenant_id = \(tenant.rawValue) AND sensitive IS NOT NULL
                          AND key_version < \(version))
                     + (SELECT count(*) FROM connections WHERE tenant_id = \(tenant.rawValue) AND credentials IS NOT NULL
                          AND credentials_key_version < \(version))
                     + (SELECT count(*) FROM webhook_events WHERE tenant_id = \(tenant.rawValue) AND key_version < \(version))
                     + (SELECT count(*) FROM unified_sources WHERE tenant_id = \(tenant.rawValue) AND sensitive IS NOT NULL
                          AND key_version < \(version))
                """,
                logger: logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// How long after a rotation older versions may still be sealing new rows somewhere: each
    /// process remembers the active version for up to `Keyring.maximumCacheLifetime`, and a
    /// batch sealed just before that may take a while to commit.
    public static let rotationSettleTime: Duration = Keyring.maximumCacheLifetime + .seconds(60)

    /// Retires the tenant's data key versions below `version`: they stop decrypting and their
    /// material is erased. Refused while any row is still sealed under one of them, and until
    /// the rotation to `version` or later is older than `rotationSettleTime`: before that, a
    /// process that hasn't seen the rotation can still write rows under an older version, and
    /// retiring it would make them unreadable.
    @discardableResult
    public func retire(tenant: TenantID, below version: Int) async throws -> [Int] {
        let active = try await status(tenant: tenant).filter { $0.purpose == .data && $0.state == .active }
        guard let newest = active.map(\.version).max() else {
            throw HubError(.notFound, "tenant \(tenant) has no active data keys")
        }
        guard version <= newest else {
            throw HubError(.keyRetirementBlocked, "cannot retire v\(newest), the version new writes use; rotate first")
        }
        let inUse = try await countBelow(tenant: tenant, version: version)
        guard inUse == 0 else {
            throw HubError(
                .keyRetirementBlocked,
                "\(inUse) rows of tenant \(tenant) are still sealed under a version below v\(version); run `tributary keys reencrypt --tenant \(tenant)` first"
            )
        }
        let settle = Double(Self.rotationSettleTime.components.seconds)
        let age = try await withDatabaseErrors("reading key ages") { () -> Double in
            let rows = try await client.query(
                """
                SELECT extract(epoch FROM now() - min(created_at))::float8 FROM data_keys
                WHERE tenant_id = \(tenant.rawValue) AND purpose = 'data' AND version >= \(version)
                """,
                logger: logger
            )
            for try await value in rows.decode(Double?.self) { return value ?? 0 }
            return 0
        }
        guard age >= settle else {
            throw HubError(
                .keyRetirementBlocked,
                "v\(version) became the write version \(Int(age)) s ago; other processes may still seal with older versions until it is "
                    + "\(Int(settle)) s old (their key caches live up to \(Keyring.maximumCacheLifetime.components.seconds) s). "
                    + "Run `tributary keys reencrypt` again, then retire in \(Int((settle - age).rounded(.up))) s"
            )
        }
        let retired = try await withDatabaseErrors("retiring keys") { () -> [Int] in
            let rows = try await client.query(
                """
                UPDATE data_keys SET state = 'retired', wrapped_key = NULL, retired_at = now()
                WHERE tenant_id = \(tenant.rawValue) AND purpose = 'data' AND state = 'active' AND version < \(version)
                  AND (SELECT min(created_at) FROM data_keys WHERE tenant_id = \(tenant.rawValue) AND purpose = 'data'
                         AND version >= \(version)) <= now() - make_interval(secs => \(settle))
                  AND NOT EXISTS (SELECT 1 FROM records WHERE tenant_id = \(tenant.rawValue) AND key_version < \(version)
                                    AND sensitive IS NOT NULL)
                  AND NOT EXISTS (SELECT 1 FROM connections WHERE tenant_id = \(tenant.rawValue)
                                    AND credentials_key_version < \(version) AND credentials IS NOT NULL)
                  AND NOT EXISTS (SELECT 1 FROM webhook_events WHERE tenant_id = \(tenant.rawValue) AND key_version < \(version))
                  AND NOT EXISTS (SELECT 1 FROM unified_sources WHERE tenant_id = \(tenant.rawValue) AND key_version < \(version)
                                    AND sensitive IS NOT NULL)
                RETURNING version
                """,
                logger: logger
            )
            var versions: [Int] = []
            for try await value in rows.decode(Int.self) { versions.append(value) }
            return versions.sorted()
        }
        keyring.forget(tenant)
        return retired
    }

    /// Crypto-shredding: destroys every key of the tenant, then deletes its rows. Copies of
    /// its ciphertexts anywhere else (backups, replicas, dumps) can never be decrypted again.
    public func shred(tenant: TenantID) async throws {
        try await withDatabaseErrors("shredding tenant \(tenant)") {
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    "UPDATE tenants SET shredded_at = COALESCE(shredded_at, now()) WHERE id = \(tenant.rawValue) RETURNING id",
                    logger: logger
                )
                var found = false
                for try await _ in rows { found = true }
                guard found else { throw HubError(.notFound, "tenant \(tenant) does not exist") }
                try await connection.query(
                    """
                    UPDATE data_keys SET state = 'shredded', wrapped_key = NULL, retired_at = COALESCE(retired_at, now())
                    WHERE tenant_id = \(tenant.rawValue)
                    """,
                    logger: logger
                )
                try await connection.query("DELETE FROM connections WHERE tenant_id = \(tenant.rawValue)", logger: logger)
                try await connection.query("DELETE FROM api_keys WHERE tenant_id = \(tenant.rawValue)", logger: logger)
                // Who read which of its records in clear names its records: it goes with them.
                try await connection.query("DELETE FROM audit_log WHERE tenant_id = \(tenant.rawValue)", logger: logger)
            }
        }
        keyring.forget(tenant)
    }

    /// Key-encryption-key rotation: rewraps every live key not yet under `newKEK` (by default
    /// the configured current one), in one transaction; a key already under it is left alone,
    /// so a rerun does nothing. Each key is opened by whichever configured KEK wrapped it.
    /// Data keys and ciphertexts are untouched.
    @discardableResult
    public func rewrap(to target: (any KeyEncryptionKeyProvider)? = nil) async throws -> Int {
        let configured = keyring.kek
        let newKEK = target ?? configured
        return try await withDatabaseErrors("rewrapping data keys") {
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    "SELECT tenant_id, purpose, version, wrapped_key, kek_id FROM data_keys WHERE state = 'active' FOR UPDATE",
                    logger: logger
                )
                var keys: [(UUID, String, Int, ByteBuffer, String)] = []
                for try await row in rows.decode((UUID, String, Int, ByteBuffer, String).self) { keys.append(row) }
                var moved = 0
                for (id, purpose, version, wrapped, kekID) in keys where kekID != newKEK.keyID {
                    let tenant = TenantID(id)
                    let label = "\(purpose) v\(version)"
                    guard let opener = configured.provider(for: kekID) else {
                        throw HubError(
                            .keyUnavailable,
                            "the \(label) key of tenant \(tenant) is wrapped by key-encryption key \(kekID), which is not configured "
                                + "(configured: \(configured.knownKeyIDs.joined(separator: ", "))); nothing was changed"
                        )
                    }
                    let material = try await opener.unwrap(Array(wrapped.readableBytesView), tenant: tenant, label: label)
                    let rewrapped = try await newKEK.wrap(material, tenant: tenant, label: label)
                    try await connection.query(
                        """
                        UPDATE data_keys SET wrapped_key = \(ByteBuffer(bytes: rewrapped)), kek_id = \(newKEK.keyID)
                        WHERE tenant_id = \(id) AND purpose = \(purpose) AND version = \(version)
                        """,
                        logger: logger
                    )
                    moved += 1
                }
                return moved
            }
        }
    }
}
