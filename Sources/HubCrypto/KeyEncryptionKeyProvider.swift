import Crypto
import HubCore

/// Wraps and unwraps tenants' data keys. The local implementation holds a 32-byte key from
/// configuration; AWS KMS (HubKMS) plugs in here without touching any caller.
public protocol KeyEncryptionKeyProvider: Sendable {
    /// Identifies the key-encryption key without revealing anything about it; stored beside
    /// each wrapped key so a mismatch is diagnosed, not mistaken for tampering.
    var keyID: String { get }
    /// Wraps a tenant key; `label` (purpose and version) is bound into the wrapping so a
    /// wrapped key moved to another tenant, purpose or version fails to unwrap.
    func wrap(_ dataKey: SymmetricKey, tenant: TenantID, label: String) async throws -> [UInt8]
    func unwrap(_ wrapped: [UInt8], tenant: TenantID, label: String) async throws -> SymmetricKey
    /// A new random data key and its wrapping. A KMS makes both in one call, so the key's
    /// randomness comes from the KMS's own generator; the local default draws it here.
    func generateDataKey(tenant: TenantID, label: String) async throws -> (key: SymmetricKey, wrapped: [UInt8])
    /// The key-encryption key with `keyID` among those this provider holds (itself, or for a
    /// ring, one of the previous keys still configured during a rotation); nil when none.
    func provider(for keyID: String) -> (any KeyEncryptionKeyProvider)?
    /// The ids of every key-encryption key this provider can unwrap with, current first.
    var knownKeyIDs: [String] { get }
}

extension KeyEncryptionKeyProvider {
    public func generateDataKey(tenant: TenantID, label: String) async throws -> (key: SymmetricKey, wrapped: [UInt8]) {
        let key = SymmetricKey(size: .bits256)
        return (key, try await wrap(key, tenant: tenant, label: label))
    }

    public func provider(for keyID: String) -> (any KeyEncryptionKeyProvider)? { keyID == self.keyID ? self : nil }
    public var knownKeyIDs: [String] { [keyID] }
}
