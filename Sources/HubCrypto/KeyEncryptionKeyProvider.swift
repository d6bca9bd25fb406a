import Crypto
import HubCore

/// Wraps and unwraps tenants' data keys. The local implementation holds a 32-byte key from
/// configuration; AWS KMS or Vault transit plug in here without touching any caller.
public protocol KeyEncryptionKeyProvider: Sendable {
    /// Identifies the key-encryption key without revealing anything about it; stored beside
    /// each wrapped key so a mismatch is diagnosed, not mistaken for tampering.
    var keyID: String { get }
    /// Wraps a tenant key; `label` (purpose and version) is bound into the wrapping so a
    /// wrapped key moved to another tenant, purpose or version fails to unwrap.
    func wrap(_ dataKey: SymmetricKey, tenant: TenantID, label: String) async throws -> [UInt8]
    func unwrap(_ wrapped: [UInt8], tenant: TenantID, label: String) async throws -> SymmetricKey
}
