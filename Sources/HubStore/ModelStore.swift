import Crypto
import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// Registered unified model definitions (`models/*.yaml`), versioned as connectors are:
/// registering new content adds a version; identical content returns the existing one. The
/// definition is checked (parsed) by the caller before it is stored.
public struct ModelStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public struct Definition: Sendable {
        public let name: String
        public let version: Int
        public let definition: String
        public let checksum: String
        public let createdAt: Date
    }

    public struct Summary: Sendable {
        public let name: String
        public let latestVersion: Int
        public let versions: Int
        public let updatedAt: Date
    }

    /// Registers the content; returns its version and whether it was new.
    public func register(name: String, definition: String) async throws -> (version: Int, created: Bool) {
        let checksum = SHA256.hash(data: Data(definition.utf8)).map { String(format: "%02x", $0) }.joined()
        return try await withDatabaseErrors("registering model \(name)") {
            try await client.withGuardedTransaction(logger: logger) { connection in
                // One registration of a name at a time, so two racing ones can't pick the same version.
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('unified_model:' || \(name)))", logger: logger)
                let rows = try await connection.query(
                    "SELECT version, checksum FROM unified_models WHERE name = \(name) ORDER BY version DESC LIMIT 1", logger: logger
                )
                var latest: (Int, String)?
                for try await row in rows.decode((Int, String).self) { latest = row }
                if let latest, latest.1 == checksum { return (latest.0, false) }
                let version = (latest?.0 ?? 0) + 1
                try await connection.query(
                    "INSERT INTO unified_models (name, version, definition, checksum) VALUES (\(name), \(version), \(definition), \(checksum))",
                    logger: logger
                )
                return (version, true)
            }
        }
    }

    /// One version, or the latest when `version` is nil.
    public func definition(name: String, version: Int? = nil) async throws -> Definition {
        let found = try await withDatabaseErrors("reading model \(name)") { () -> Definition? in
            let rows = try await client.query(
                """
                SELECT name, version, definition, checksum, created_at FROM unified_models
                WHERE name = \(name) AND (\(version)::int IS NULL OR version = \(version))
                ORDER BY version DESC LIMIT 1
                """,
                logger: logger
            )
            for try await row in rows.decode((String, Int, String, String, Date).self) {
                return Definition(name: row.0, version: row.1, definition: row.2, checksum: row.3, createdAt: row.4)
            }
            return nil
        }
        guard let found else {
            throw HubError(.notFound, version.map { "model \(name) has no version \($0)" } ?? "no model named \(name); register it with `tributary models add`")
        }
        return found
    }

    /// By name; `after` is the previous page's last name.
    public func list(limit: Int = 10_000, after: String? = nil) async throws -> [Summary] {
        try await withDatabaseErrors("listing models") {
            let rows = try await client.query(
                """
                SELECT name, max(version), count(*)::int, max(created_at) FROM unified_models
                WHERE \(after)::text IS NULL OR name > \(after)
                GROUP BY name ORDER BY name LIMIT \(limit)
                """,
                logger: logger
            )
            var result: [Summary] = []
            for try await row in rows.decode((String, Int, Int, Date).self) {
                result.append(Summary(name: row.0, latestVersion: row.1, versions: row.2, updatedAt: row.3))
            }
            return result
        }
    }
}
