import Foundation
import HubConnectors
import HubCore
import Logging
import PostgresNIO
import Synchronization

/// The latest version of each model, parsed, kept for a short while: a read of unified data
/// would otherwise query and parse the model's YAML on every request. A newly registered
/// version is seen within `lifetime`.
public final class ModelCache: Sendable {
    private struct Entry {
        let model: UnifiedModel?
        let checked: ContinuousClock.Instant
    }

    private let catalog: ModelCatalog
    private let lifetime: Duration
    private let entries = Mutex<[String: Entry]>([:])

    public init(client: PostgresClient, logger: Logger, lifetime: Duration = .seconds(2)) {
        catalog = ModelCatalog(client: client, logger: logger)
        self.lifetime = lifetime
    }

    /// The model's latest version; nil when none is registered by that name.
    public func latest(_ name: String) async throws -> UnifiedModel? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[name] }), now - entry.checked < lifetime { return entry.model }
        let model = try await catalog.latest([name])[name]
        entries.withLock { entries in
            // Names asked for are bounded by what clients send: forget them all past a thousand.
            if entries.count >= 1_000 { entries.removeAll(keepingCapacity: true) }
            entries[name] = Entry(model: model, checked: now)
        }
        return model
    }
}
