import HubCore
import Synchronization

/// Wrapped keys in memory: the keyring's repository in tests that need no database.
public final class MemoryDataKeyRepository: DataKeyRepository {
    private let keys = Mutex<[WrappedDataKey]>([])

    public init() {}

    public func dataKeys(for tenant: TenantID, purpose: WrappedDataKey.Purpose) async throws -> [WrappedDataKey] {
        keys.withLock { $0.filter { $0.tenant == tenant && $0.purpose == purpose }.sorted { $0.version < $1.version } }
    }

    public func insertDataKey(_ key: WrappedDataKey) async throws {
        try keys.withLock { keys in
            if keys.contains(where: { $0.tenant == key.tenant && $0.purpose == key.purpose && $0.version == key.version }) {
                throw HubError(.conflict, "\(key.purpose.rawValue) key v\(key.version) of tenant \(key.tenant) exists")
            }
            keys.append(key)
        }
    }

    /// Replaces a stored key, as an attacker with write access to the table could.
    public func tamper(_ transform: ([WrappedDataKey]) -> [WrappedDataKey]) {
        keys.withLock { $0 = transform($0) }
    }
}

/// The behaviour every `DataKeyRepository` must have; each implementation's tests call it.
public enum DataKeyRepositoryContract {
    public static func check(_ repository: any DataKeyRepository, tenant: TenantID) async throws -> [String] {
        var failures: [String] = []
        let first = WrappedDataKey(tenant: tenant, purpose: .data, version: 1, wrapped: [1, 2, 3], kekID: "k1", state: .active)
        let second = WrappedDataKey(tenant: tenant, purpose: .data, version: 2, wrapped: [4, 5, 6], kekID: "k1", state: .active)
        let index = WrappedDataKey(tenant: tenant, purpose: .index, version: 1, wrapped: [7], kekID: "k1", state: .active)
        try await repository.insertDataKey(second)
        try await repository.insertDataKey(first)
        try await repository.insertDataKey(index)
        let data = try await repository.dataKeys(for: tenant, purpose: .data)
        if data != [first, second] { failures.append("data keys not returned oldest first: \(data.map(\.version))") }
        if try await repository.dataKeys(for: tenant, purpose: .index) != [index] { failures.append("index key not kept apart") }
        if try await !repository.dataKeys(for: TenantID(), purpose: .data).isEmpty { failures.append("keys leak across tenants") }
        do {
            try await repository.insertDataKey(first)
            failures.append("a duplicate version was accepted")
        } catch let error as HubError where error.code == .conflict {
        } catch {
            failures.append("a duplicate version failed with \(error), not a conflict")
        }
        return failures
    }
}
