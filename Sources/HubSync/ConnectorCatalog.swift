import HubConnectors
import HubStore
import Synchronization

/// Parsed connector definitions by (name, version): a registered version never changes, so
/// each is parsed once per process. At most `capacity` are kept: every published version
/// stays in the database, and a process that has served hundreds of them drops the ones it
/// parsed longest ago (parsing one again costs milliseconds).
public final class ConnectorCatalog: Sendable {
    public static let defaultCapacity = 256

    private let store: ConnectorStore
    private let capacity: Int
    /// Definitions, and their keys in the order they were parsed.
    private let cache = Mutex<(definitions: [String: ConnectorDefinition], order: [String])>(([:], []))

    public init(store: ConnectorStore, capacity: Int = ConnectorCatalog.defaultCapacity) {
        self.store = store
        self.capacity = max(1, capacity)
    }

    /// How many definitions are held, for tests.
    public var count: Int { cache.withLock { $0.definitions.count } }

    public func definition(name: String, version: Int) async throws -> ConnectorDefinition {
        let key = "\(name)@\(version)"
        if let cached = cache.withLock({ $0.definitions[key] }) { return cached }
        let stored = try await store.definition(name: name, version: version)
        let definition = try ConnectorDefinition(name: name, manifest: stored.manifest, sidecar: stored.sidecar)
        cache.withLock { cache in
            guard cache.definitions.updateValue(definition, forKey: key) == nil else { return }
            cache.order.append(key)
            while cache.order.count > capacity { cache.definitions[cache.order.removeFirst()] = nil }
        }
        return definition
    }

    /// The newest registered version (one query to learn its number, then the cache).
    public func latest(name: String) async throws -> ConnectorDefinition {
        let stored = try await store.definition(name: name)
        return try await definition(name: name, version: stored.version)
    }
}
