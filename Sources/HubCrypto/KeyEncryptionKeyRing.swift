import Crypto
import HubCore

/// The current key-encryption key plus the previous ones, during a KEK rotation: new keys are
/// wrapped by the current one, and keys still wrapped by a previous one keep opening, so
/// every process can move to the new KEK before `tributary keys rewrap` has moved the keys
/// (and the old one is dropped from configuration only after). Without it a rotation needs
/// every process restarted at the instant the rewrap commits.
public struct KeyEncryptionKeyRing: KeyEncryptionKeyProvider {
    public let current: any KeyEncryptionKeyProvider
    public let previous: [any KeyEncryptionKeyProvider]

    /// Throws when two of the keys are the same key (a configuration slip, not a rotation).
    public init(current: any KeyEncryptionKeyProvider, previous: [any KeyEncryptionKeyProvider]) throws {
        var seen: Set<String> = [current.keyID]
        for key in previous where !seen.insert(key.keyID).inserted {
            throw HubError(.invalidInput, "key-encryption key \(key.keyID) is configured twice; each previous key must differ from the current one and from each other")
        }
        self.current = current
        self.previous = previous
    }

    public var keyID: String { current.keyID }

    public func wrap(_ dataKey: SymmetricKey, tenant: TenantID, label: String) async throws -> [UInt8] {
        try await current.wrap(dataKey, tenant: tenant, label: label)
    }

    public func unwrap(_ wrapped: [UInt8], tenant: TenantID, label: String) async throws -> SymmetricKey {
        try await current.unwrap(wrapped, tenant: tenant, label: label)
    }

    public func generateDataKey(tenant: TenantID, label: String) async throws -> (key: SymmetricKey, wrapped: [UInt8]) {
        try await current.generateDataKey(tenant: tenant, label: label)
    }

    public func provider(for keyID: String) -> (any KeyEncryptionKeyProvider)? {
        ([current] + previous).first { $0.keyID == keyID }
    }

    public var knownKeyIDs: [String] { [current.keyID] + previous.map(\.keyID) }
}
