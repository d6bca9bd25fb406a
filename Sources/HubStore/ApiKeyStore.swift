import Crypto
import Foundation
import HubCore
import HubDatabase
import Logging
import PostgresNIO

/// What an API key may do.
public enum ApiScope: String, Sendable, CaseIterable, Codable {
    case recordsRead = "records:read"
    case recordsReadSensitive = "records:read-sensitive"
    case connectionsWrite = "connections:write"
    case connectorsWrite = "connectors:write"
    case admin

    /// Scopes that act on what every tenant shares; only keys without a tenant hold them.
    public var isOperatorScope: Bool { self == .connectorsWrite || self == .admin }

    /// Every scope a tenant's key may hold.
    public static var tenantScopes: Set<ApiScope> { Set(allCases.filter { !$0.isOperatorScope }) }
}

/// Who a request acts as, once its key checked out.
public struct ApiIdentity: Sendable, Hashable {
    public let keyID: UUID
    /// nil for an operator key (scopes `admin` and `connectors:write`, no tenant).
    public let tenant: TenantID?
    public let scopes: Set<ApiScope>

    public init(keyID: UUID, tenant: TenantID?, scopes: Set<ApiScope>) {
        self.keyID = keyID
        self.tenant = tenant
        // The database refuses operator scopes on a tenant's key; this holds if a row ever
        // got past it (a restored old dump, a hand edit).
        self.scopes = tenant == nil ? scopes : scopes.filter { !$0.isOperatorScope }
    }

    public func allows(_ scope: ApiScope) -> Bool { scopes.contains(scope) }

    /// An operator's key holding `scope`: no tenant, and the scope granted.
    public func isOperator(with scope: ApiScope) -> Bool { tenant == nil && scopes.contains(scope) }
}

/// API keys `trb_<prefix>_<secret>`: the prefix finds the row, the secret is kept only as its
/// SHA-256 (a 256-bit random secret needs no slow hash), compared in constant time.
public struct ApiKeyStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public struct Created: Sendable {
        public let id: UUID
        public let prefix: String
        /// Shown once, to whoever created it; never stored.
        public let key: Secret<String>
    }

    public func create(tenant: TenantID?, name: String, scopes: Set<ApiScope>, expiresAt: Date? = nil) async throws -> Created {
        guard !scopes.isEmpty else { throw HubError(.invalidInput, "an API key needs at least one scope") }
        let operatorScopes = scopes.filter(\.isOperatorScope)
        if tenant == nil, operatorScopes.count != scopes.count {
            throw HubError(.invalidInput, "a key without a tenant is an operator key: its scopes are admin and connectors:write only")
        }
        if tenant != nil, let scope = operatorScopes.map(\.rawValue).sorted().first {
            throw HubError(.invalidInput, "\(scope) is an operator's scope (connector definitions are shared by every tenant); "
                           + "create it as an operator key, without --tenant")
        }
        let id = UUID()
        let prefix = Self.randomHex(6)
        let secret = Self.randomHex(32)
        let hash = Array(SHA256.hash(data: Data(secret.utf8)))
        try await withDatabaseErrors("creating an API key") {
            try await client.query(
                """
                INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, expires_at)
                VALUES (\(id), \(tenant?.rawValue), \(name), \(prefix), \(ByteBuffer(bytes: hash)),
                        \(scopes.map(\.rawValue).sorted())::text[], \(expiresAt))
                """,
                logger: logger
            )
        }
        return Created(id: id, prefix: prefix, key: Secret("trb_\(prefix)_\(secret)"))
    }

    /// The key's identity, or nil when it is unknown, wrong, revoked or expired (the caller
    /// answers 401 for all of them alike).
    public func authenticate(_ presented: String) async throws -> ApiIdentity? {
        let parts = presented.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "trb", parts[1].count == 12, parts[2].count == 64 else { return nil }
        let prefix = String(parts[1])
        let presentedHash = Array(SHA256.hash(data: Data(parts[2].utf8)))
        let row = try await withDatabaseErrors("checking an API key") { () -> (UUID, UUID?, ByteBuffer, [String])? in
            let rows = try await client.query(
                """
                SELECT id, tenant_id, secret_hash, scopes FROM api_keys
                WHERE prefix = \(prefix) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                """,
                logger: logger
            )
            for try await row in rows.decode((UUID, UUID?, ByteBuffer, [String]).self) { return row }
            return nil
        }
        guard let (id, tenant, storedHash, scopes) = row,
              Self.constantTimeEqual(Array(storedHash.readableBytesView), presentedHash) else { return nil }
        return ApiIdentity(keyID: id, tenant: tenant.map(TenantID.init), scopes: Set(scopes.compactMap(ApiScope.init(rawValue:))))
    }

    public struct Summary: Sendable {
        public let id: UUID
        public let tenant: TenantID?
        public let name: String
        public let prefix: String
        public let scopes: [String]
        public let createdAt: Date
        public let expiresAt: Date?
        public let revokedAt: Date?
    }

    public func list(tenant: TenantID?) async throws -> [Summary] {
        try await withDatabaseErrors("listing API keys") {
            let rows = try await client.query(
                """
                SELECT id, tenant_id, name, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys
                WHERE (\(tenant?.rawValue)::uuid IS NULL OR tenant_id = \(tenant?.rawValue)) ORDER BY created_at DESC
                """,
                logger: logger
            )
            var result: [Summary] = []
            for try await row in rows.decode((UUID, UUID?, String, String, [String], Date, Date?, Date?).self) {
                result.append(Summary(id: row.0, tenant: row.1.map(TenantID.init), name: row.2, prefix: row.3, scopes: row.4,
                                      createdAt: row.5, expiresAt: row.6, revokedAt: row.7))
            }
            return result
        }
    }

    public func revoke(_ id: UUID) async throws {
        let revoked = try await withDatabaseErrors("revoking an API key") { () -> Bool in
            let rows = try await client.query(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = \(id) RETURNING 1", logger: logger
            )
            for try await _ in rows { return true }
            return false
        }
        if !revoked { throw HubError(.notFound, "API key \(id) not found") }
    }

    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Equality in time independent of where the bytes differ (secrets compared by the API).
    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
