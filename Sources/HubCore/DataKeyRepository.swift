/// A tenant's data-encryption key as stored: wrapped (encrypted) by the key-encryption key.
public struct WrappedDataKey: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Decrypts; the newest active version also encrypts new writes.
        case active
        /// No longer decrypts; no row used it when it was retired.
        case retired
        /// Destroyed with its tenant (crypto-shredding).
        case shredded
    }

    /// What a tenant's keys are for. Data keys seal ciphertexts and rotate; the one index
    /// key computes blind indexes and content hashes, and stays put across rotations so that
    /// lookups and change detection never need recomputing.
    public enum Purpose: String, Sendable {
        case data
        case index
    }

    public let tenant: TenantID
    public let purpose: Purpose
    public let version: Int
    /// nil once retired or shredded: the key material is gone.
    public let wrapped: [UInt8]?
    /// Which key-encryption key wrapped it.
    public let kekID: String
    public let state: State

    public init(tenant: TenantID, purpose: Purpose = .data, version: Int, wrapped: [UInt8]?, kekID: String, state: State) {
        self.tenant = tenant
        self.purpose = purpose
        self.version = version
        self.wrapped = wrapped
        self.kekID = kekID
        self.state = state
    }
}

/// Where wrapped data keys live (PostgreSQL's `data_keys` in production).
public protocol DataKeyRepository: Sendable {
    /// Every version of the tenant's keys of this purpose, oldest first.
    func dataKeys(for tenant: TenantID, purpose: WrappedDataKey.Purpose) async throws -> [WrappedDataKey]
    /// Stores a new version; fails with `.conflict` if that version exists (a concurrent rotation).
    func insertDataKey(_ key: WrappedDataKey) async throws
}
