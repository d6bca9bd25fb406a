import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// A tenant as listed by operators.
public struct Tenant: Sendable, Equatable {
    public let id: TenantID
    public let name: String
    public let createdAt: Date
    public let shreddedAt: Date?
}

/// The `tenants` table.
public struct TenantStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func create(name: String) async throws -> Tenant {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(trimmed.count) else {
            throw HubError(.invalidInput, "tenant name must be 1 to 200 characters")
        }
        let id = TenantID()
        return try await withDatabaseErrors("creating tenant") {
            let rows = try await client.query(
                "INSERT INTO tenants (id, name) VALUES (\(id.rawValue), \(trimmed)) RETURNING created_at", logger: logger
            )
            var createdAt = Date()
            for try await value in rows.decode(Date.self) { createdAt = value }
            return Tenant(id: id, name: trimmed, createdAt: createdAt, shreddedAt: nil)
        }
    }

    /// Oldest first; `after` is the previous page's last tenant (its `created_at` in microseconds, and id).
    public func list(limit: Int = 10_000, after: (micros: Int64, id: UUID)? = nil) async throws -> [(tenant: Tenant, micros: Int64)] {
        try await withDatabaseErrors("listing tenants") {
            let rows = try await client.query(
                """
                SELECT id, name, created_at, shredded_at, (extract(epoch FROM created_at) * 1000000)::int8 FROM tenants
                WHERE \(after?.micros)::int8 IS NULL
                   OR (created_at, id) > (timestamptz 'epoch' + \(after?.micros) * interval '1 microsecond', \(after?.id))
                ORDER BY created_at, id LIMIT \(limit)
                """,
                logger: logger)
            var tenants: [(tenant: Tenant, micros: Int64)] = []
            for try await (id, name, created, shredded, micros) in rows.decode((UUID, String, Date, Date?, Int64).self) {
                tenants.append((Tenant(id: TenantID(id), name: name, createdAt: created, shreddedAt: shredded), micros))
            }
            return tenants
        }
    }

    public func get(_ id: TenantID) async throws -> Tenant {
        try await withDatabaseErrors("reading tenant \(id)") {
            let rows = try await client.query(
                "SELECT name, created_at, shredded_at FROM tenants WHERE id = \(id.rawValue)", logger: logger
            )
            for try await (name, created, shredded) in rows.decode((String, Date, Date?).self) {
                return Tenant(id: id, name: name, createdAt: created, shreddedAt: shredded)
            }
            throw HubError(.notFound, "tenant \(id) does not exist")
        }
    }
}
