import Crypto
import HubCore
import HubCrypto

/// Stands in for a key-encryption key that could not be loaded, so that commands which seal
/// nothing (creating a tenant, listing) still work; anything that needs a key gets the
/// loading error, which says how to configure one.
struct UnavailableKeyEncryptionKey: KeyEncryptionKeyProvider {
    let error: HubError

    var keyID: String { "(none configured)" }

    func wrap(_ dataKey: SymmetricKey, tenant: TenantID, label: String) async throws -> [UInt8] {
        throw error
    }

    func unwrap(_ wrapped: [UInt8], tenant: TenantID, label: String) async throws -> SymmetricKey {
        throw error
    }
}
