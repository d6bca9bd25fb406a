import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import Logging
import PostgresNIO
import Synchronization

/// A stream's records as unified entities: each record mapped into every model its
/// connector's `hub.yaml` names for the stream, the model's sensitive fields sealed and its
/// identity keys blind-indexed under the tenant's keys, then linked in the same transaction as
/// the records themselves (`EntityStore.link`).
struct UnifiedLinking: Sendable {
    let definition: ConnectorDefinition
    let stream: String
    let tenant: TenantID
    let connection: UUID
    let config: PyValue
    let models: [UnifiedModel]
    let keyring: Keyring
    let logger: Logger
    let client: PostgresClient
    /// Sources linked by this sync, and the count at which the table is analyzed next.
    let progress = LinkProgress()

    /// The mapped, sealed sources of one batch, per model, and the records that map to
    /// nothing in it (their earlier sources, if any, leave their entities).
    typealias Prepared = [(model: String, sources: [EntityStore.SourceInput], unmapped: [String])]

    /// Nil when the stream maps into no model. A model it names that is not registered fails
    /// the sync, naming it (registration refuses that, so it means a model was removed).
    static func make(definition: ConnectorDefinition, stream: String, tenant: TenantID, connection: UUID, config: PyValue,
                     client: PostgresClient, keyring: Keyring, logger: Logger) async throws -> UnifiedLinking? {
        let names = (definition.sidecar.streams[stream]?.unified.keys).map { Array($0).sorted() } ?? []
        guard !names.isEmpty else { return nil }
        let found = try await ModelCatalog(client: client, logger: logger).latest(names)
        let models = try names.map { name in
            guard let model = found[name] else {
                throw HubError(.invalidInput, "connector \(definition.name) maps stream \(stream) into model \(name), which is not registered")
            }
            return model
        }
        return UnifiedLinking(definition: definition, stream: stream, tenant: tenant, connection: connection, config: config,
                              models: models, keyring: keyring, logger: logger, client: client)
    }

    /// Maps and seals a batch (before its transaction: sealing reads the tenant's keys).
    func prepare(records: [RecordWriter.Input], raw: [PyValue]) async throws -> Prepared {
        guard !records.isEmpty else { return [] }
        if progress.add(records.count) { try await EntityStore(logger: logger).analyze(client: client) }
        let key = try await keyring.encryptionKey(for: tenant)
        let indexKey = try await keyring.indexKey(for: tenant)
        let now = EngineEnvironment.systemNow()
        return try models.map { model in
            let protector = RecordProtector(policy: RecordPolicy(sensitiveFields: model.sensitive, blindIndexes: model.identity),
                                            key: key, indexKey: indexKey, table: "unified_sources")
            var sources: [EntityStore.SourceInput] = []
            var unmapped: [String] = []
            for (record, data) in zip(records, raw) {
                guard let mapped = try definition.unifiedFields(stream: stream, model: model.name, record: data, config: config, now: now),
                      case .object(let fields) = PyValue.dict(mapped).json, !fields.isEmpty else {
                    unmapped.append(record.externalID)
                    continue
                }
                let row = EntityReader.rowIdentity(connection: connection, stream: stream, externalID: record.externalID, model: model.name)
                sources.append(EntityStore.SourceInput(
                    connection: connection, stream: stream, externalID: record.externalID, connector: definition.name,
                    protected: try protector.protect(fields, row: row), sourceUpdatedAt: record.sourceUpdatedAt
                ))
            }
            return (model.name, sources, unmapped)
        }
    }

    func link(_ prepared: Prepared, on database: PostgresConnection) async throws {
        let entities = EntityStore(logger: logger)
        for (model, sources, unmapped) in prepared {
            try await entities.link(on: database, tenant: tenant, model: model, sources: sources)
            try await entities.unlink(on: database, tenant: tenant, connection: connection, stream: stream, externalIDs: unmapped, model: model)
        }
    }
}

/// How many sources a sync has linked; says when to analyze the sources table again (at 1,000
/// and each doubling after), so its statistics keep up with a table the sync itself is filling.
final class LinkProgress: Sendable {
    private let state = Mutex((linked: 0, next: 1_000))

    /// Adds `count`; true when the total just reached the next threshold.
    func add(_ count: Int) -> Bool {
        state.withLock { state in
            state.linked += count
            guard state.linked >= state.next else { return false }
            state.next = state.linked * 2
            return true
        }
    }
}
