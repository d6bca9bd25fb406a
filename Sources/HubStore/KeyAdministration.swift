import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Key lifecycle over the store: status, re-encryption after rotation, retirement,
/// crypto-shredding and key-encryption-key rotation. Keys and credentials are in the vault,
/// the rest in the main database; no transaction spans the two (docs/vault.md, rules 5 and 6).
public struct KeyAdministration: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger
    /// Where keys, credentials and the audit log live.
    var vault: PostgresClient { keyring.vault(or: client) }

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
            // Rows per (tenant, version): records in main, credentials in the vault.
            let records = try await countsByVersion(
                client, "SELECT tenant_id, key_version, count(*)::int8 FROM records WHERE sensitive IS NOT NULL", tenant: tenant
            )
            let credentials = try await countsByVersion(
                vault, "SELECT tenant_id, key_version, count(*)::int8 FROM connection_credentials WHERE true", tenant: tenant
            )
            let rows = try await vault.query(
                """
                SELECT k.tenant_id, k.purpose, k.version, k.state, k.kek_id FROM data_keys k
                WHERE \(tenant?.rawValue)::uuid IS NULL OR k.tenant_id = \(tenant?.rawValue)
                ORDER BY k.tenant_id, k.purpose, k.version
                """,
                logger: logger
            )
            var result: [VersionStatus] = []
            for try await (id, purpose, version, state, kek) in rows.decode((UUID, String, Int, String, String).self) {
                let kind = WrappedDataKey.Purpose(rawValue: purpose) ?? .data
                let key = VersionKey(tenant: id, version: version)
                result.append(
                    VersionStatus(
                        tenant: TenantID(id), purpose: kind, version: version,
                        state: WrappedDataKey.State(rawValue: state) ?? .retired, kekID: kek,
                        records: kind == .data ? records[key, default: 0] : 0,
                        connections: kind == .data ? credentials[key, default: 0] : 0
                    )
                )
            }
            return result
        }
    }

    private struct VersionKey: Hashable {
        let tenant: UUID
        let version: Int
    }

    /// `select` (tenant, version, count) grouped by both, for one tenant or all.
    private func countsByVersion(_ database: PostgresClient, _ select: String, tenant: TenantID?) async throws -> [VersionKey: Int] {
        var query = PostgresQuery(unsafeSQL: select + " AND ($1::uuid IS NULL OR tenant_id = $1) GROUP BY 1, 2")
        query.binds.append(tenant?.rawValue)
        var counts: [VersionKey: Int] = [:]
        for try await (id, version, count) in try await database.query(query, logger: logger).decode((UUID, Int, Int).self) {
            counts[VersionKey(tenant: id, version: version)] = count
        }
        return counts
    }

    /// Tenants that have data keys (and so may need rotation or re-encryption).
    public func tenantsWithKeys() async throws -> [TenantID] {
        try await withDatabaseErrors("listing tenants with keys") {
            let rows = try await vault.query(
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

    /// Rows of the tenant still sealed under a data key older than `version`, in both databases.
    public func countBelow(tenant: TenantID, version: Int) async throws -> Int {
        try await withDatabaseErrors("counting rows to re-encrypt") {
            let rows = try await client.query(
                """
                SELECT (SELECT count(*) FROM records WHERE tenant_id = \(tenant.rawValue) AND sensitive IS NOT NULL
                          AND key_version < \(version))
                     + (SELECT count(*) FROM webhook_events WHERE tenant_id = \(tenant.rawValue) AND key_version < \(version))
                     + (SELECT count(*) FROM unified_sources WHERE tenant_id = \(tenant.rawValue) AND sensitive IS NOT NULL
                          AND key_version < \(version))
                """,
                logger: logger
            )
            var count = 0
            for try await value in rows.decode(Int.self) { count = value }
            let credentials = try await vault.query(
                """
                SELECT count(*)::int8 FROM connection_credentials WHERE tenant_id = \(tenant.rawValue) AND key_version < \(version)
                """,
                logger: logger
            )
            for try await value in credentials.decode(Int.self) { count += value }
            return count
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
            let rows = try await vault.query(
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
        // The main database was checked above, in its own statement: no transaction spans the
        // two. Nothing can be sealed under an old version between that check and this update,
        // because the settle time has passed (docs/vault.md, rule 5); the vault's own rows are
        // checked again here, in the statement that retires.
        let retired = try await withDatabaseErrors("retiring keys") { () -> [Int] in
            let rows = try await vault.query(
                """
                UPDATE data_keys SET state = 'retired', wrapped_key = NULL, retired_at = now()
                WHERE tenant_id = \(tenant.rawValue) AND purpose = 'data' AND state = 'active' AND version < \(version)
                  AND (SELECT min(created_at) FROM data_keys WHERE tenant_id = \(tenant.rawValue) AND purpose = 'data'
                         AND version >= \(version)) <= now() - make_interval(secs => \(settle))
                  AND NOT EXISTS (SELECT 1 FROM connection_credentials WHERE tenant_id = \(tenant.rawValue)
                                    AND key_version < \(version))
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
    ///
    /// The vault goes first (docs/vault.md, rule 6): once its keys are gone, a crash before the
    /// main database's deletes leaves only ciphertexts no key opens, and a rerun finishes.
    public func shred(tenant: TenantID) async throws {
        // Whatever happens below, this process stops using the tenant's keys at once.
        defer { keyring.forget(tenant) }
        try await withDatabaseErrors("shredding tenant \(tenant)") {
            let exists = try await client.query("SELECT 1 FROM tenants WHERE id = \(tenant.rawValue)", logger: logger)
            var found = false
            for try await _ in exists { found = true }
            guard found else { throw HubError(.notFound, "tenant \(tenant) does not exist") }
            try await vault.withGuardedTransaction(logger: logger) { connection in
                // Locks the row a concurrent new key locks too: that key either committed
                // before this (and is shredded below) or sees the tenant shredded.
                try await connection.query(
                    """
                    INSERT INTO vault_tenants (tenant_id, shredded_at) VALUES (\(tenant.rawValue), now())
                    ON CONFLICT (tenant_id) DO UPDATE SET shredded_at = COALESCE(vault_tenants.shredded_at, now())
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    UPDATE data_keys SET state = 'shredded', wrapped_key = NULL, retired_at = COALESCE(retired_at, now())
                    WHERE tenant_id = \(tenant.rawValue)
                    """,
                    logger: logger
                )
                try await connection.query("DELETE FROM connection_credentials WHERE tenant_id = \(tenant.rawValue)", logger: logger)
                // Who read which of its records in clear names its records: it goes with them.
                try await connection.query("DELETE FROM audit_log WHERE tenant_id = \(tenant.rawValue)", logger: logger)
            }
            try await shredMain(tenant)
        }
    }

    /// The main database's half of a shred: the tenant marked, its connections (and with them
    /// its records) and API keys deleted.
    private func shredMain(_ tenant: TenantID) async throws {
        try await client.withGuardedTransaction(logger: logger) { connection in
            try await connection.query(
                "UPDATE tenants SET shredded_at = COALESCE(shredded_at, now()) WHERE id = \(tenant.rawValue)", logger: logger
            )
            try await connection.query("DELETE FROM connections WHERE tenant_id = \(tenant.rawValue)", logger: logger)
            try await connection.query("DELETE FROM api_keys WHERE tenant_id = \(tenant.rawValue)", logger: logger)
        }
    }

    /// Finishes shreds that stopped between the two databases: tenants the vault marks
    /// shredded whose main half didn't happen (their API keys would still answer). Run by the
    /// hourly maintenance job; returns how many it finished.
    public func finishInterruptedShreds() async throws -> Int {
        try await withDatabaseErrors("finishing interrupted shreds") {
            var marked: [UUID] = []
            for try await id in try await vault.query("SELECT tenant_id FROM vault_tenants WHERE shredded_at IS NOT NULL", logger: logger)
                .decode(UUID.self) { marked.append(id) }
            guard !marked.isEmpty else { return 0 }
            var pending: [UUID] = []
            for try await id in try await client.query("SELECT id FROM tenants WHERE id = ANY(\(marked)) AND shredded_at IS NULL", logger: logger)
                .decode(UUID.self) { pending.append(id) }
            for id in pending {
                keyring.forget(TenantID(id))
                try await shredMain(TenantID(id))
                logger.notice("finished an interrupted shred", metadata: ["hub.tenant": "\(id)"])
            }
            return pending.count
        }
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
            try await vault.withGuardedTransaction(logger: logger) { connection in
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
