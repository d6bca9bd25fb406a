import HubConnectors
import HubCore
import HubStore
import Logging
import PostgresNIO

/// Registered unified models as the engine reads them: the latest version of each, parsed.
public struct ModelCatalog: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The latest version of each named model that is registered (a name that is not is left
    /// out, for the caller to report).
    public func latest(_ names: [String]) async throws -> [String: UnifiedModel] {
        var models: [String: UnifiedModel] = [:]
        let store = ModelStore(client: client, logger: logger)
        for name in names {
            let stored: ModelStore.Definition
            do { stored = try await store.definition(name: name) } catch let error as HubError where error.code == .notFound { continue }
            do {
                models[name] = try UnifiedModel(yaml: stored.definition, source: "model \(name) v\(stored.version)")
            } catch {
                throw HubError(.storedDataInvalid, "model \(name) v\(stored.version) as stored no longer loads: \(error)")
            }
        }
        return models
    }

    /// Refuses a connector whose `hub.yaml` maps a stream into a model that is not registered,
    /// or into a field the model lacks.
    public func check(_ definition: ConnectorDefinition) async throws {
        let names = definition.mappedModels
        guard !names.isEmpty else { return }
        try definition.checkMappings(against: try await latest(names))
    }
}
