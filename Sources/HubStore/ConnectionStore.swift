import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// Connections and their credentials. Credentials are write-only from the outside: sealed
/// on the way in (bound to tenant, table, column and the connection's id), opened only for
/// the sync that needs them.
public struct ConnectionStore: Sendable {
    let client: PostgresClient
    /// Needed to seal and open credentials only; nil for a store that reads, schedules and
    /// updates connections without touching them.
    private let keyring: Keyring?
    let logger: Logger

    public init(client: PostgresClient, keyring: Keyring, logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.logger = logger
    }

    /// A store for everything but credentials: reads, status, scheduling.
    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.keyring = nil
        self.logger = logger
    }

    /// The keyring, for the methods that seal or open credentials.
    private func credentialKeys() throws -> Keyring {
        guard let keyring else {
            throw HubError(.internalError, "this ConnectionStore was made without a keyring, so it cannot seal or open credentials")
        }
        return keyring
    }

    static func credentialsContext(_ tenant: TenantID, _ connection: UUID) -> EncryptionContext {
        EncryptionContext(tenant: tenant, table: "connections", column: "credentials", row: connection.uuidString.lowercased())
    }

    /// The database the credentials live in: the keyring's vault (docs/vault.md).
    private func vault() throws -> PostgresClient { try credentialKeys().vault(or: client) }

    /// Creates the connection in the main database, then its credentials in the vault (rule 2
    /// of docs/vault.md: never a credential without its connection). When the vault write
    /// fails the connection is removed again, so a retried call doesn't leave a twin behind.
    public func create(
        tenant: TenantID, connector: String, connectorVersion: Int, externalAccount: String = "",
        config: [String: JSONValue] = [:], credentials: Secret<[UInt8]>
    ) async throws -> UUID {
        let id = UUID()
        let generation = UUID()
        let key = try await credentialKeys().encryptionKey(for: tenant)
        let sealed = try Envelope.seal(credentials.revealed, with: key, context: Self.credentialsContext(tenant, id))
        let vault = try vault()
        try await withDatabaseErrors("creating a connection") {
            try await client.query(
                """
                INSERT INTO connections (id, tenant_id, connector_name, connector_version, external_account, config, credentials_generation)
                VALUES (\(id), \(tenant.rawValue), \(connector), \(connectorVersion), \(externalAccount),
                        \(JSONValue.object(config).canonicalJSON)::jsonb, \(generation))
                """,
                logger: logger
            )
        }
        do {
            try await storeCredentials(sealed, version: key.version, generation: generation, tenant: tenant, connection: id, in: vault)
        } catch {
            _ = try? await client.query("DELETE FROM connections WHERE id = \(id)", logger: logger)
            throw error
        }
        return id
    }

    /// Writes (or replaces) the sealed credentials of a connection that exists in main, with the
    /// generation main now holds for them.
    private func storeCredentials(
        _ sealed: [UInt8], version: Int, generation: UUID, tenant: TenantID, connection: UUID, in vault: PostgresClient
    ) async throws {
        try await withDatabaseErrors("storing the credentials of connection \(connection)") {
            let rows = try await vault.query(
                """
                INSERT INTO connection_credentials (connection_id, tenant_id, sealed, key_version, generation)
                VALUES (\(connection), \(tenant.rawValue), \(ByteBuffer(bytes: sealed)), \(version), \(generation))
                ON CONFLICT (connection_id) DO UPDATE
                SET sealed = EXCLUDED.sealed, key_version = EXCLUDED.key_version, generation = EXCLUDED.generation, updated_at = now()
                WHERE connection_credentials.tenant_id = EXCLUDED.tenant_id
                RETURNING 1
                """,
                logger: logger
            )
            var stored = false
            for try await _ in rows { stored = true }
            // Only a row of another tenant under this connection id can refuse the update.
            guard stored else { throw HubError(.notFound, "connection \(connection) not found") }
        }
    }

    /// The connection's credentials in clear, checked against the generation main holds now.
    public func credentials(tenant: TenantID, connection: UUID) async throws -> Secret<[UInt8]> {
        let current = try await withDatabaseErrors("reading connection \(connection)") { () -> UUID?? in
            let rows = try await client.query(
                "SELECT credentials_generation FROM connections WHERE tenant_id = \(tenant.rawValue) AND id = \(connection)", logger: logger
            )
            for try await generation in rows.decode(UUID?.self) { return .some(generation) }
            return .none
        }
        guard let current else { throw HubError(.notFound, "connection \(connection) not found") }
        return try await open(tenant: tenant, connection: connection, expected: .some(current))
    }

    /// The credentials that go with `info.config`, for the sync or webhook that read it: those
    /// of the same write, or an error (never another write's, which may be for another host).
    public func credentials(for info: ConnectionInfo) async throws -> Secret<[UInt8]> {
        try await open(tenant: info.tenant, connection: info.id, expected: .some(info.credentialsGeneration))
    }

    /// Opens the stored credentials; with `expected`, only those of that generation.
    func open(tenant: TenantID, connection: UUID, expected: UUID??) async throws -> Secret<[UInt8]> {
        let vault = try vault()
        let row = try await withDatabaseErrors("reading connection credentials") { () -> (ByteBuffer, Int, UUID?)? in
            let rows = try await vault.query(
                """
                SELECT sealed, key_version, generation FROM connection_credentials
                WHERE tenant_id = \(tenant.rawValue) AND connection_id = \(connection)
                """,
                logger: logger
            )
            for try await row in rows.decode((ByteBuffer, Int, UUID?).self) { return row }
            return nil
        }
        guard let (sealed, version, generation) = row else {
            guard try await summary(tenant: tenant, id: connection) != nil else {
                throw HubError(.notFound, "connection \(connection) not found")
            }
            // Its creation stopped between the two databases (docs/vault.md, rule 2).
            throw HubError(
                .storedDataInvalid,
                "connection \(connection) has no stored credentials (its creation was interrupted); update it with all of its credentials"
            )
        }
        if case .some(let expected) = expected, generation != expected {
            // An update stopped between the databases, two crossed, or one landed after the
            // caller read the config: these may be another config's, for another host.
            throw HubError(
                .storedDataInvalid,
                "the stored credentials of connection \(connection) do not belong to the config read with them (an update landed "
                    + "meanwhile, or stopped between the two databases); if this persists, update it with all of its credentials"
            )
        }
        let key = try await credentialKeys().decryptionKey(for: tenant, version: version)
        return try Envelope.open(Array(sealed.readableBytesView), with: key, context: Self.credentialsContext(tenant, connection))
    }
}

extension ConnectionStore {
    public struct Summary: Sendable {
        public let id: UUID
        public let tenant: TenantID
        public let connector: String
        public let connectorVersion: Int
        public let externalAccount: String
        public let status: ConnectionStatus
        public let lastError: String?
        public let createdAt: Date
        /// `created_at` in microseconds, exactly: the keyset pagination key with `id`.
        public let createdAtMicros: Int64
    }

    /// A tenant's connections (every tenant's when nil), newest first; `before` is the last
    /// row of the previous page (its `createdAtMicros` and id).
    public func list(tenant: TenantID?, limit: Int = 1000, before: (micros: Int64, id: UUID)? = nil) async throws -> [Summary] {
        try await summaries(tenant: tenant, id: nil, limit: limit, before: before)
    }

    /// One of the tenant's connections, or nil.
    public func summary(tenant: TenantID, id: UUID) async throws -> Summary? {
        try await summaries(tenant: tenant, id: id, limit: 1, before: nil).first
    }

    private func summaries(tenant: TenantID?, id: UUID?, limit: Int, before: (micros: Int64, id: UUID)?) async throws -> [Summary] {
        try await withDatabaseErrors("listing connections") {
            let rows = try await client.query(
                """
                SELECT id, tenant_id, connector_name, connector_version, external_account, status, last_error::text, created_at,
                       (extract(epoch FROM created_at) * 1000000)::int8
                FROM connections WHERE (\(tenant?.rawValue)::uuid IS NULL OR tenant_id = \(tenant?.rawValue))
                  AND (\(id)::uuid IS NULL OR id = \(id))
                  AND (\(before?.micros)::int8 IS NULL
                       OR (created_at, id) < (timestamptz 'epoch' + \(before?.micros) * interval '1 microsecond', \(before?.id)))
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """,
                logger: logger
            )
            var result: [Summary] = []
            for try await row in rows.decode((UUID, UUID, String, Int, String, String, String?, Date, Int64).self) {
                result.append(Summary(id: row.0, tenant: TenantID(row.1), connector: row.2, connectorVersion: row.3,
                                      externalAccount: row.4, status: try ConnectionStatus.stored(row.5, in: "connection \(row.0)"), lastError: row.6, createdAt: row.7, createdAtMicros: row.8))
            }
            return result
        }
    }
}

extension ConnectionStore {
    /// Replaces the plain configuration and, when given, the sealed credentials; sets status
    /// and schedule when given. Returns false when the tenant has no such connection.
    public func update(
        tenant: TenantID, connection: UUID, config: [String: JSONValue]?, credentials: Secret<[UInt8]>?,
        status: ConnectionStatus?, scheduleSeconds: Int??, connectorVersion: Int? = nil
    ) async throws -> Bool {
        var sealed: (bytes: [UInt8], version: Int, generation: UUID)?
        if let credentials {
            let key = try await credentialKeys().encryptionKey(for: tenant)
            sealed = (try Envelope.seal(credentials.revealed, with: key, context: Self.credentialsContext(tenant, connection)), key.version, UUID())
        }
        let configText = config.map { JSONValue.object($0).canonicalJSON }
        let setSchedule = scheduleSeconds != nil
        let schedule = scheduleSeconds ?? nil
        let found = try await withDatabaseErrors("updating connection \(connection)") {
            let rows = try await client.query(
                """
                UPDATE connections SET
                    config = COALESCE(\(configText)::jsonb, config),
                    credentials_generation = COALESCE(\(sealed?.generation)::uuid, credentials_generation),
                    status = COALESCE(\(status?.rawValue)::text, status),
                    schedule_seconds = CASE WHEN \(setSchedule) THEN \(schedule)::int ELSE schedule_seconds END,
                    connector_version = COALESCE(\(connectorVersion)::int, connector_version),
                    next_sync_at = CASE WHEN \(status?.rawValue)::text = 'active' THEN NULL ELSE next_sync_at END,
                    updated_at = now()
                WHERE id = \(connection) AND tenant_id = \(tenant.rawValue)
                RETURNING 1
                """,
                logger: logger
            )
            for try await _ in rows { return true }
            return false
        }
        // Main first, then the vault: the credentials of a connection that no longer exists
        // would be an orphan, which is harmless and collected.
        if found, let sealed {
            try await storeCredentials(sealed.bytes, version: sealed.version, generation: sealed.generation, tenant: tenant,
                                       connection: connection, in: try vault())
        }
        return found
    }

    /// Deletes the connection with its records, state and runs, then its credentials. A
    /// store made without a keyring leaves the credentials to `collectOrphanedCredentials`.
    public func delete(tenant: TenantID, connection: UUID) async throws -> Bool {
        let deleted = try await withDatabaseErrors("deleting connection \(connection)") {
            let rows = try await client.query(
                "DELETE FROM connections WHERE id = \(connection) AND tenant_id = \(tenant.rawValue) RETURNING 1", logger: logger
            )
            for try await _ in rows { return true }
            return false
        }
        if deleted, let keyring {
            let vault = keyring.vault(or: client)
            try await withDatabaseErrors("deleting the credentials of connection \(connection)") {
                try await vault.query(
                    "DELETE FROM connection_credentials WHERE connection_id = \(connection) AND tenant_id = \(tenant.rawValue)",
                    logger: logger
                )
            }
        }
        return deleted
    }
}

extension ConnectionStore {
    /// A sync of the connection succeeded: its error is cleared, and a connection in `error`
    /// is active again. On the caller's connection (the job's fenced transaction).
    static func recordSuccess(on database: PostgresConnection, connection: UUID, logger: Logger) async throws {
        try await database.query(
            "UPDATE connections SET last_error = NULL, status = CASE WHEN status = 'error' THEN 'active' ELSE status END WHERE id = \(connection)",
            logger: logger
        )
    }

    /// A sync of the connection failed: the error is left on it. On the caller's connection.
    static func recordFailure(on database: PostgresConnection, connection: UUID, error: JSONValue, logger: Logger) async throws {
        try await database.query(
            "UPDATE connections SET last_error = \(error.canonicalJSON)::jsonb, updated_at = now() WHERE id = \(connection)",
            logger: logger
        )
    }
}

extension ConnectionStore {
    /// The tenant's connections of `connector` for the external account, oldest first, at most
    /// `limit`: how a per-connector webhook finds its connection. Never looks past the tenant.
    public func ids(tenant: TenantID, connector: String, account: String, limit: Int = 2) async throws -> [UUID] {
        try await withDatabaseErrors("finding the connection for an account") {
            let rows = try await client.query(
                """
                SELECT id FROM connections
                WHERE tenant_id = \(tenant.rawValue) AND connector_name = \(connector) AND external_account = \(account)
                ORDER BY created_at LIMIT \(limit)
                """,
                logger: logger
            )
            var ids: [UUID] = []
            for try await id in rows.decode(UUID.self) { ids.append(id) }
            return ids
        }
    }
}

extension ConnectionStore {
    /// Deletes credentials whose connection no longer exists in the main database and that
    /// have not been written for `age`: what a delete that stopped between the two databases,
    /// or a delete by a store without a keyring, leaves in the vault (docs/vault.md, rule 2).
    /// With one database the foreign key removes them with the connection and this finds none.
    public func collectOrphanedCredentials(olderThan age: Duration = .seconds(3600), batchSize: Int = 1000) async throws -> Int {
        let vault = try vault()
        let seconds = Double(age.components.seconds)
        var after = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        var collected = 0
        while true {
            let candidates = try await withDatabaseErrors("listing stored credentials") { () -> [UUID] in
                let rows = try await vault.query(
                    """
                    SELECT connection_id FROM connection_credentials
                    WHERE connection_id > \(after) AND updated_at < now() - make_interval(secs => \(seconds))
                    ORDER BY connection_id LIMIT \(batchSize)
                    """,
                    logger: logger
                )
                var ids: [UUID] = []
                for try await id in rows.decode(UUID.self) { ids.append(id) }
                return ids
            }
            guard let last = candidates.last else { return collected }
            after = last
            let live = try await withDatabaseErrors("checking connections") { () -> Set<UUID> in
                let rows = try await client.query("SELECT id FROM connections WHERE id = ANY(\(candidates))", logger: logger)
                var ids = Set<UUID>()
                for try await id in rows.decode(UUID.self) { ids.insert(id) }
                return ids
            }
            let orphans = candidates.filter { !live.contains($0) }
            // Deletes remove both halves, and a crash between them leaves one orphan at a
            // time: most of a batch orphaned means this vault is paired with the wrong main
            // database (another environment, an older restore), where collecting would
            // destroy every credential.
            if orphans.count > 20, orphans.count * 2 > candidates.count {
                throw HubError(
                    .conflict,
                    "\(orphans.count) of \(candidates.count) stored credentials name connections the main database doesn't have: "
                        + "is TRIBUTARY_DATABASE_URL the vault's own main database? Nothing more was collected"
                )
            }
            if !orphans.isEmpty {
                collected += try await withDatabaseErrors("collecting orphaned credentials") { () -> Int in
                    let rows = try await vault.query(
                        """
                        DELETE FROM connection_credentials
                        WHERE connection_id = ANY(\(orphans)) AND updated_at < now() - make_interval(secs => \(seconds))
                        RETURNING 1
                        """,
                        logger: logger
                    )
                    var count = 0
                    for try await _ in rows { count += 1 }
                    return count
                }
            }
            if candidates.count < batchSize { return collected }
        }
    }
}
