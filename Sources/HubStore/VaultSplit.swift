import Foundation
import HubCore
import HubCrypto
import HubDatabase
import Logging
import PostgresNIO

/// The move of an install's secrets from the main database into a vault database of its own
/// (`tributary migrate --split-vault`, docs/vault.md), and the checks that each process makes
/// of where the secrets are before it starts.
///
/// The move goes table by table, one batch at a time: copy the batch to the vault, read it
/// back and check it (every row is there with the same content, every active key unwraps,
/// every credential opens), then delete it from the main database. The main side is one
/// transaction that holds the tables against writers until they are dropped, so it commits
/// whole or not at all; the vault side is upserts, so a run stopped anywhere is finished by
/// running it again.
public struct VaultSplit: Sendable {
    /// A vault table and how its rows are told apart.
    struct Table: Sendable {
        let name: String
        let key: [String]
    }

    /// In the order they move: a key's tenant row first, credentials after the keys that open them.
    static let tables: [Table] = [
        Table(name: "vault_tenants", key: ["tenant_id"]),
        Table(name: "data_keys", key: ["tenant_id", "purpose", "version"]),
        Table(name: "connection_credentials", key: ["connection_id"]),
        Table(name: "audit_log", key: ["id"]),
    ]

    /// The names of the tables the vault holds.
    public static var tableNames: [String] { tables.map(\.name) }

    let main: PostgresClient
    let vault: PostgresClient
    let kek: any KeyEncryptionKeyProvider
    let logger: Logger

    public init(main: PostgresClient, vault: PostgresClient, kek: any KeyEncryptionKeyProvider, logger: Logger) {
        self.main = main
        self.vault = vault
        self.kek = kek
        self.logger = logger
    }

    /// How far the move is.
    public struct Progress: Sendable {
        public let table: String
        public let moved: Int
        public let remaining: Int
    }

    /// Moves every row, then drops the main database's copies. Returns the rows moved per table.
    ///
    /// Everything on the main side happens in one transaction that locks the four tables
    /// against writers (`EXCLUSIVE`: reads go on) from the first read to the drop. A process
    /// still running without the vault can then neither change a row after it was copied (a
    /// shred, a rotated token) nor add one: its writes wait, and fail once the tables are
    /// gone. A crash rolls the main side back whole; the vault's copies are upserts, so a rerun
    /// simply copies again.
    @discardableResult
    public func run(batchSize: Int = 500, progress: @Sendable (Progress) -> Void = { _ in }) async throws -> [String: Int] {
        let batchSize = min(max(batchSize, 1), 10_000)
        let counts = try await Self.originals(in: main, logger: logger)
        let present = Self.tables.filter { counts[$0.name] != nil }
        guard !present.isEmpty else { return [:] }
        let moved = try await withDatabaseErrors("moving secrets to the vault") { () -> [String: Int] in
            try await main.withGuardedTransaction(logger: logger) { connection in
                // The tables the copies' foreign keys reference first, against writers too: the
                // drop at the end needs them, and a delete cascading from one of them into a
                // held table would otherwise deadlock with it. Both modes let reads go on.
                try await connection.query("LOCK TABLE tenants, connections IN SHARE ROW EXCLUSIVE MODE", logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "LOCK TABLE " + present.map(\.name).joined(separator: ", ") + " IN EXCLUSIVE MODE"),
                    logger: logger
                )
                var moved: [String: Int] = [:]
                for table in present {
                    var remaining = try await Self.count(table.name, on: connection, logger: logger)
                    var done = 0
                    progress(Progress(table: table.name, moved: 0, remaining: remaining))
                    let assignments = try await columns(of: table).filter { !table.key.contains($0) }
                        .map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
                    while true {
                        let count = try await moveBatch(table, assignments: assignments, limit: batchSize, on: connection)
                        if count == 0 { break }
                        done += count
                        remaining = max(0, remaining - count)
                        progress(Progress(table: table.name, moved: done, remaining: remaining))
                    }
                    moved[table.name] = done
                }
                // The audit log's ids came along; the vault's sequence continues after them.
                try await vault.query(
                    "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), GREATEST((SELECT max(id) FROM audit_log), 1))",
                    logger: logger
                )
                try await connection.query(
                    PostgresQuery(unsafeSQL: "DROP TABLE " + present.map(\.name).joined(separator: ", ")), logger: logger
                )
                return moved
            }
        }
        return moved
    }

    private static func count(_ table: String, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        for try await count in try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM \(table)"), logger: logger)
            .decode(Int.self) { return count }
        return 0
    }

    /// Copies, checks and deletes (in the split's transaction) the first `limit` rows left in
    /// the main database's table.
    /// `assignments` is the upsert's `SET` list (every column but the key), read once per table.
    func moveBatch(_ table: Table, assignments: String, limit: Int, on connection: PostgresConnection) async throws -> Int {
        let keyList = table.key.joined(separator: ", ")
        let result = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT row_to_json(t)::text FROM \(table.name) t ORDER BY \(keyList) LIMIT \(limit)"),
            logger: logger
        )
        var rows: [String] = []
        for try await text in result.decode(String.self) { rows.append(text) }
        guard !rows.isEmpty else { return 0 }
        let batch = "[" + rows.joined(separator: ",") + "]"
        // Main stays the truth until its row is deleted: a rerun overwrites an earlier copy.
        var copy = PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(table.name) SELECT * FROM json_populate_recordset(NULL::\(table.name), $1::json)
                ON CONFLICT (\(keyList)) DO UPDATE SET \(assignments)
                """
        )
        copy.binds.append(batch)
        try await vault.query(copy, logger: logger)
        try await verify(table, batch: batch, expected: rows.count)
        // Only rows exactly as they were read and copied (the lock makes that all of them).
        let match = table.key.map { "t.\($0) = b.\($0)" }.joined(separator: " AND ")
        var delete = PostgresQuery(
            unsafeSQL: """
                DELETE FROM \(table.name) t USING json_populate_recordset(NULL::\(table.name), $1::json) b
                WHERE \(match) AND to_jsonb(t) = to_jsonb(b) RETURNING 1
                """
        )
        delete.binds.append(batch)
        var deleted = 0
        for try await _ in try await connection.query(delete, logger: logger) { deleted += 1 }
        guard deleted == rows.count else {
            throw HubError(
                .conflict,
                "\(table.name) changed in the main database while it was being moved (\(deleted) of \(rows.count) rows matched); "
                    + "nothing was deleted from it: stop every process and run the split again"
            )
        }
        return rows.count
    }

    /// The batch as the vault now holds it equals the main database's rows, and its secrets open.
    private func verify(_ table: Table, batch: String, expected: Int) async throws {
        let match = table.key.map { "t.\($0) = b.\($0)" }.joined(separator: " AND ")
        let comparison = try await withDatabaseErrors("checking the copy of \(table.name)") { () -> (Int, Int) in
            var query = PostgresQuery(
                unsafeSQL: """
                    SELECT count(*)::int8, count(*) FILTER (WHERE to_jsonb(t) = to_jsonb(b))::int8
                    FROM json_populate_recordset(NULL::\(table.name), $1::json) b JOIN \(table.name) t ON \(match)
                    """
            )
            query.binds.append(batch)
            for try await row in try await vault.query(query, logger: logger).decode((Int, Int).self) { return row }
            return (0, 0)
        }
        guard comparison.0 == expected, comparison.1 == expected else {
            throw HubError(
                .storedDataInvalid,
                "the vault's copy of \(table.name) does not match the main database (\(comparison.0) of \(expected) rows found, "
                    + "\(comparison.1) equal); nothing of this batch was deleted from the main database"
            )
        }
        switch table.name {
        case "data_keys": try await verifyKeys(batch)
        case "connection_credentials": try await verifyCredentials(batch)
        default: break
        }
    }

    /// Every active key of the batch unwraps with the configured key-encryption key.
    private func verifyKeys(_ batch: String) async throws {
        var query = PostgresQuery(
            unsafeSQL: """
                SELECT tenant_id, purpose, version, wrapped_key, kek_id FROM json_populate_recordset(NULL::data_keys, $1::json)
                WHERE state = 'active'
                """
        )
        query.binds.append(batch)
        let rows = try await withDatabaseErrors("reading keys to check") { () -> [(UUID, String, Int, ByteBuffer, String)] in
            var rows: [(UUID, String, Int, ByteBuffer, String)] = []
            for try await row in try await vault.query(query, logger: logger).decode((UUID, String, Int, ByteBuffer, String).self) {
                rows.append(row)
            }
            return rows
        }
        for (tenant, purpose, version, wrapped, kekID) in rows {
            guard let opener = kek.provider(for: kekID) else {
                throw HubError(
                    .keyUnavailable,
                    "the \(purpose) v\(version) key of tenant \(tenant) is wrapped by key-encryption key \(kekID), which is not configured; "
                        + "the split checks every key it moves, so configure it (TRIBUTARY_PREVIOUS_MASTER_KEY_FILES) and run again"
                )
            }
            _ = try await opener.unwrap(Array(wrapped.readableBytesView), tenant: TenantID(tenant), label: "\(purpose) v\(version)")
        }
    }

    /// Every credential of the batch opens with its tenant's key, read from the vault.
    private func verifyCredentials(_ batch: String) async throws {
        let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: main, vault: vault, logger: logger))
        let store = ConnectionStore(client: main, keyring: keyring, logger: logger)
        var query = PostgresQuery(
            unsafeSQL: "SELECT tenant_id, connection_id FROM json_populate_recordset(NULL::connection_credentials, $1::json)"
        )
        query.binds.append(batch)
        let rows = try await withDatabaseErrors("reading credentials to check") { () -> [(UUID, UUID)] in
            var rows: [(UUID, UUID)] = []
            for try await row in try await vault.query(query, logger: logger).decode((UUID, UUID).self) { rows.append(row) }
            return rows
        }
        for (tenant, connection) in rows {
            // Whether it opens; whether it is in step with its config is the sync's check, not the move's.
            _ = try await store.open(tenant: TenantID(tenant), connection: connection, expected: .none)
        }
    }

    private func columns(of table: Table) async throws -> [String] {
        try await withDatabaseErrors("reading the columns of \(table.name)") {
            let rows = try await vault.query(
                """
                SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(\(table.name)) AND attnum > 0 AND NOT attisdropped
                ORDER BY attnum
                """,
                logger: logger
            )
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            return names
        }
    }

    /// The main database's copies of the vault tables that still exist, with their row counts
    /// (a scan of each: for `migrate`, not for every start).
    public static func originals(in main: PostgresClient, logger: Logger) async throws -> [String: Int] {
        let existing = try await existingOriginals(in: main, logger: logger)
        return try await withDatabaseErrors("counting the vault tables' rows in the main database") {
            var counts: [String: Int] = [:]
            for name in existing {
                let rows = try await main.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM \(name)"), logger: logger)
                for try await count in rows.decode(Int.self) { counts[name] = count }
            }
            return counts
        }
    }

    /// The main database's copies of the vault tables that still exist, in one catalog query.
    static func existingOriginals(in main: PostgresClient, logger: Logger) async throws -> [String] {
        try await withDatabaseErrors("looking for vault tables in the main database") {
            let rows = try await main.query(
                "SELECT name FROM unnest(\(tableNames)::text[]) AS name WHERE to_regclass(name) IS NOT NULL ORDER BY name", logger: logger
            )
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            return names
        }
    }

    /// Drops the main database's copies, all at once, and only while every one is empty.
    public static func dropOriginals(in main: PostgresClient, logger: Logger) async throws {
        let existing = try await existingOriginals(in: main, logger: logger)
        guard !existing.isEmpty else { return }
        try await withDatabaseErrors("dropping the vault tables from the main database") {
            try await main.withGuardedTransaction(logger: logger) { connection in
                for name in existing {
                    // Held until the drop commits: no row can land between the count and the drop.
                    try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(name) IN ACCESS EXCLUSIVE MODE"), logger: logger)
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM \(name)"), logger: logger)
                    for try await count in rows.decode(Int.self) where count > 0 {
                        throw HubError(.conflict, "\(name) in the main database still holds \(count) rows; run `tributary migrate --split-vault`")
                    }
                }
                try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE " + existing.joined(separator: ", ")), logger: logger)
            }
        }
    }

    /// Why a process must not start with this layout, or nil: secrets in the main database
    /// while a vault is configured (they would be invisible), or a main database whose secrets
    /// were moved to a vault that isn't configured.
    public static func layoutProblem(main: PostgresClient, vault: PostgresClient?, logger: Logger) async throws -> HubError? {
        let vaultConfigured = vault != nil
        // Every start asks: the catalog answers, and rows are counted only to say what is wrong.
        let existing = try await existingOriginals(in: main, logger: logger)
        if vaultConfigured, !existing.isEmpty {
            let originals = try await originals(in: main, logger: logger)
            let held = originals.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.value) in \($0.key)" }
            return HubError(
                .schemaOutOfDate,
                held.isEmpty
                    ? "the main database still has the vault's tables; run `tributary migrate` with TRIBUTARY_VAULT_DATABASE_URL set"
                    : "the main database still holds secrets (\(held.joined(separator: ", "))); run `tributary migrate --split-vault` to move them to the vault"
            )
        }
        if !vaultConfigured, existing.isEmpty {
            return HubError(
                .invalidConfiguration,
                "this database's keys, credentials and audit log were moved to a vault database; set TRIBUTARY_VAULT_DATABASE_URL"
            )
        }
        if let vault {
            let (vaultID, paired) = try await pairing(main: main, vault: vault, logger: logger)
            guard let paired else {
                return HubError(.schemaOutOfDate, "this main database has not been paired with its vault yet; run `tributary migrate`")
            }
            if paired != vaultID { return mispaired(vaultID: vaultID, paired: paired) }
        }
        return nil
    }

    /// Records in the main database which vault it uses (`tributary migrate`), or refuses a
    /// vault other than the one recorded: another environment's, or another restore's.
    public static func pair(main: PostgresClient, vault: PostgresClient, logger: Logger) async throws {
        let (vaultID, paired) = try await pairing(main: main, vault: vault, logger: logger)
        if let paired {
            if paired != vaultID { throw mispaired(vaultID: vaultID, paired: paired) }
            return
        }
        try await withDatabaseErrors("pairing the main database with its vault") {
            try await main.query(
                "INSERT INTO vault_pairing (vault_id) VALUES (\(vaultID)) ON CONFLICT (singleton) DO NOTHING", logger: logger
            )
        }
        // A concurrent `migrate` may have paired it first, with another vault.
        if let now = try await pairing(main: main, vault: vault, logger: logger).paired, now != vaultID {
            throw mispaired(vaultID: vaultID, paired: now)
        }
    }

    private static func pairing(main: PostgresClient, vault: PostgresClient, logger: Logger) async throws -> (vault: UUID, paired: UUID?) {
        try await withDatabaseErrors("reading the vault's pairing") {
            var vaultID: UUID?
            for try await id in try await vault.query("SELECT vault_id FROM vault_identity", logger: logger).decode(UUID.self) { vaultID = id }
            guard let vaultID else { throw HubError(.storedDataInvalid, "the vault database has no identity row (vault_identity); it was not made by `tributary migrate`") }
            var paired: UUID?
            for try await id in try await main.query("SELECT vault_id FROM vault_pairing", logger: logger).decode(UUID.self) { paired = id }
            return (vaultID, paired)
        }
    }

    private static func mispaired(vaultID: UUID, paired: UUID) -> HubError {
        HubError(
            .invalidConfiguration,
            "TRIBUTARY_VAULT_DATABASE_URL names vault \(vaultID), but this main database's secrets are in vault \(paired): "
                + "another environment's vault, or another restore's; point both URLs at databases of the same install"
        )
    }
}
