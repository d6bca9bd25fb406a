import Crypto
import HubCore
import Synchronization

/// Hands out tenants' keys: creates a tenant's first keys on first use, unwraps stored ones
/// with the key-encryption key, and keeps a bounded number unwrapped in memory.
///
/// Everything it remembers lives at most `activeVersionTTL` (30 s by default, never more than
/// `maximumCacheLifetime`): which data key version is active, and every unwrapped key. So
/// another process's rotation takes effect here within that time (older versions keep
/// decrypting meanwhile; the re-encryption pass catches rows written under them), and its
/// retirement or shredding stops this process using the key within it too, or at once through
/// `forget`. An expired key is checked against its stored state again, not unwrapped again.
public final class Keyring: Sendable {
    public let kek: any KeyEncryptionKeyProvider
    /// Where the wrapped keys live. In the store this is the vault database, and the keyring
    /// is how every secret-holding store finds it (HubStore's `Keyring.vault(or:)`).
    public let repository: any DataKeyRepository
    let capacity: Int
    let activeVersionTTL: Duration

    private struct CacheKey: Hashable {
        let tenant: TenantID
        let purpose: WrappedDataKey.Purpose
        let version: Int
    }

    private struct CachedKey {
        let key: DataKey
        var until: ContinuousClock.Instant
    }

    private struct Cache {
        var keys: [CacheKey: CachedKey] = [:]
        var insertionOrder: [CacheKey] = []
        var active: [TenantID: (version: Int, until: ContinuousClock.Instant)] = [:]
    }

    private let cache = Mutex(Cache())

    public init(
        kek: any KeyEncryptionKeyProvider, repository: any DataKeyRepository, capacity: Int = 10_000,
        activeVersionTTL: Duration = .seconds(30)
    ) {
        self.kek = kek
        self.repository = repository
        self.capacity = capacity
        // Key retirement waits `maximumCacheLifetime` (plus a margin) after a rotation, for
        // every process to stop sealing with older versions: no cache may outlive it.
        self.activeVersionTTL = min(activeVersionTTL, Self.maximumCacheLifetime)
    }

    /// The longest any process keeps a key, or which version is active, without asking the
    /// store again. `KeyAdministration.retire` relies on it.
    public static let maximumCacheLifetime: Duration = .seconds(60)

    /// A cached key that hasn't outlived its lifetime.
    private func fresh(_ key: CacheKey, now: ContinuousClock.Instant = .now) -> DataKey? {
        cache.withLock { cache in
            guard let entry = cache.keys[key], entry.until > now else { return nil }
            return entry.key
        }
    }

    /// The key new writes of this tenant seal with: its newest active data key version,
    /// created on first use.
    public func encryptionKey(for tenant: TenantID) async throws -> DataKey {
        let now = ContinuousClock.now
        if let key = cache.withLock({ cache -> DataKey? in
            guard let active = cache.active[tenant], active.until > now,
                  let entry = cache.keys[CacheKey(tenant: tenant, purpose: .data, version: active.version)], entry.until > now else { return nil }
            return entry.key
        }) {
            return key
        }
        let newest = try await newestActive(tenant, purpose: .data)
        let key = try await unwrap(newest)
        cache.withLock { $0.active[tenant] = (newest.version, now + activeVersionTTL) }
        return key
    }

    /// The tenant's index key (blind indexes, content hashes), created on first use. It does
    /// not rotate with the data keys.
    public func indexKey(for tenant: TenantID) async throws -> DataKey {
        if let key = fresh(CacheKey(tenant: tenant, purpose: .index, version: 1)) { return key }
        return try await unwrap(try await newestActive(tenant, purpose: .index))
    }

    /// The key that opens ciphertexts sealed under data key `version`.
    public func decryptionKey(for tenant: TenantID, version: Int) async throws -> DataKey {
        if let key = fresh(CacheKey(tenant: tenant, purpose: .data, version: version)) { return key }
        let stored = try await repository.dataKeys(for: tenant, purpose: .data)
        guard let match = stored.first(where: { $0.version == version }) else {
            if stored.contains(where: { $0.state == .shredded }) { throw Self.shredded(tenant) }
            throw HubError(.keyUnavailable, "tenant \(tenant) has no data key v\(version)")
        }
        switch match.state {
        case .active: return try await unwrap(match)
        case .retired: throw HubError(.keyUnavailable, "data key v\(version) of tenant \(tenant) was retired")
        case .shredded: throw Self.shredded(tenant)
        }
    }

    /// Adds a data key version, used for every write from now on; returns its number.
    public func rotate(_ tenant: TenantID) async throws -> Int {
        let stored = try await repository.dataKeys(for: tenant, purpose: .data)
        if stored.contains(where: { $0.state == .shredded }) { throw Self.shredded(tenant) }
        let version = (stored.map(\.version).max() ?? 0) + 1
        try await createKey(for: tenant, purpose: .data, version: version)
        forget(tenant)
        return version
    }

    /// Drops what this process remembers of a tenant's keys (after rotation, retirement or
    /// shredding).
    public func forget(_ tenant: TenantID) {
        cache.withLock { cache in
            cache.active[tenant] = nil
            cache.keys = cache.keys.filter { $0.key.tenant != tenant }
            cache.insertionOrder.removeAll { $0.tenant == tenant }
        }
    }

    private func newestActive(_ tenant: TenantID, purpose: WrappedDataKey.Purpose) async throws -> WrappedDataKey {
        var stored = try await repository.dataKeys(for: tenant, purpose: purpose)
        if stored.isEmpty {
            try await createKey(for: tenant, purpose: purpose, version: 1)
            stored = try await repository.dataKeys(for: tenant, purpose: purpose)
        }
        guard let newest = stored.last(where: { $0.state == .active }) else { throw Self.shredded(tenant) }
        return newest
    }

    private func createKey(for tenant: TenantID, purpose: WrappedDataKey.Purpose, version: Int) async throws {
        let (material, wrapped) = try await kek.generateDataKey(tenant: tenant, label: Self.label(purpose, version))
        do {
            try await repository.insertDataKey(
                WrappedDataKey(tenant: tenant, purpose: purpose, version: version, wrapped: wrapped, kekID: kek.keyID, state: .active)
            )
        } catch let error as HubError where error.code == .conflict {
            // Another process created this version first; its key is the one to use.
            return
        }
        // The key just stored is known in clear already: remembered, it needs no unwrap (a
        // KMS Decrypt) on first use.
        remember(CacheKey(tenant: tenant, purpose: purpose, version: version),
                 DataKey(tenant: tenant, version: version, material: material), until: ContinuousClock.now + activeVersionTTL)
    }

    private func remember(_ cacheKey: CacheKey, _ key: DataKey, until: ContinuousClock.Instant) {
        cache.withLock { cache in
            if cache.keys[cacheKey] == nil { cache.insertionOrder.append(cacheKey) }
            cache.keys[cacheKey] = CachedKey(key: key, until: until)
            // Bounded: the oldest entries go first.
            while cache.insertionOrder.count > capacity {
                cache.keys[cache.insertionOrder.removeFirst()] = nil
            }
        }
    }

    private func unwrap(_ stored: WrappedDataKey) async throws -> DataKey {
        let cacheKey = CacheKey(tenant: stored.tenant, purpose: stored.purpose, version: stored.version)
        guard let wrapped = stored.wrapped else { throw Self.shredded(stored.tenant) }
        // `stored` was just read and is active: a key remembered from before lives on, with
        // no second unwrap (a KMS call, once the KEK lives in one).
        let until = ContinuousClock.now + activeVersionTTL
        if let key = cache.withLock({ cache -> DataKey? in
            guard let entry = cache.keys[cacheKey] else { return nil }
            cache.keys[cacheKey]?.until = until
            return entry.key
        }) {
            return key
        }
        guard let unwrapper = kek.provider(for: stored.kekID) else {
            throw HubError(
                .keyUnavailable,
                "the \(Self.label(stored.purpose, stored.version)) key of tenant \(stored.tenant) is wrapped by key-encryption key \(stored.kekID), "
                    + "but the configured ones are \(kek.knownKeyIDs.joined(separator: ", ")) (add the old key to TRIBUTARY_PREVIOUS_MASTER_KEY_FILES until `tributary keys rewrap` has run)"
            )
        }
        let material = try await unwrapper.unwrap(wrapped, tenant: stored.tenant, label: Self.label(stored.purpose, stored.version))
        let key = DataKey(tenant: stored.tenant, version: stored.version, material: material)
        remember(cacheKey, key, until: until)
        return key
    }

    static func label(_ purpose: WrappedDataKey.Purpose, _ version: Int) -> String {
        "\(purpose.rawValue) v\(version)"
    }

    static func shredded(_ tenant: TenantID) -> HubError {
        HubError(.keyShredded, "the keys of tenant \(tenant) were destroyed; its encrypted data can never be read again")
    }
}
