import HubConnectors
import HubStore
import Synchronization

/// Parsed connector definitions by (name, version): a registered version never changes, so
/// each is parsed once per process.
public final class ConnectorCatalog: Sendable {
    private let store: ConnectorStore
    private let cache = Mutex<[String: ConnectorDefinition]>([:])

    public init(store: ConnectorStore) { self.store = store }

    public func definition(name: String, version: Int) async throws -> ConnectorDefinition {
        let key = "\(name)@\(version)"
        if let cached = cache.withLock({ $0[key] }) { return cached }
        let stored = try await store.definition(name: name, version: version)
        let definition = try ConnectorDefinition(name: name, manifest: stored.manifest, sidecar: stored.sidecar)
        cache.withLock { $0[key] = definition }
        return definition
    }

    /// The newest registered version (one query to learn its number, then the cache).
    public func latest(name: String) async throws -> ConnectorDefinition {
        let stored = try await store.definition(name: name)
        return try await definition(name: name, version: stored.version)
    }
}
