import Crypto
import Foundation
import HubCore
import Synchronization

/// One version of a tenant's data-encryption key, unwrapped, with the subkeys derived from it.
///
/// Nothing is encrypted under the data key itself: each purpose and field has its own subkey,
/// HKDF-SHA256 with the tenant as salt and `tributary/v1/<purpose>/<field>` as info, so a
/// blind index can never be turned into a ciphertext oracle and fields never share a key.
public final class DataKey: Sendable {
    public enum Purpose: String, Sendable {
        case encryption = "enc"
        case blindIndex = "bidx"
        case contentHash = "hash"
    }

    public let tenant: TenantID
    public let version: Int
    private let material: SymmetricKey
    // Deriving costs two HMACs; every record of a batch needs the same few subkeys.
    private let subkeys = Mutex<[String: SymmetricKey]>([:])

    public init(tenant: TenantID, version: Int, material: SymmetricKey) {
        self.tenant = tenant
        self.version = version
        self.material = material
    }

    public func subkey(_ purpose: Purpose, field: String) -> SymmetricKey {
        let name = "\(purpose.rawValue)/\(field)"
        if let cached = subkeys.withLock({ $0[name] }) { return cached }
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: material,
            salt: Array(tenant.description.utf8),
            info: Array("tributary/v1/\(name)".utf8),
            outputByteCount: 32
        )
        subkeys.withLock { $0[name] = derived }
        return derived
    }
}
