import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// `unified.rederive`: re-derives a connection's unified sources from the records already
/// stored, after what derives them changed (the connection moved to a connector version with
/// other mappings, its config changed, or a model it maps into has a new version). Nothing is
/// fetched from the third party. Records are read back in external-id order in batches, each
/// mapped, sealed and linked in a fenced transaction that also saves the job's progress, so
/// `jobs show` counts it and a retried attempt resumes after the last batch committed.
/// Sources of a stream or model the connector no longer maps leave their entities.
struct UnifiedRederivation: Sendable {
    static let kind = "unified.rederive"
    static let batchSize = 500

    let client: PostgresClient
    let keyring: Keyring
    let catalog: ConnectorCatalog
    let logger: Logger

    /// The job for one connection. On the sync queue, so a tenant's re-derivations take their
    /// turns with its syncs; one waiting per connection (a second change while it waits is
    /// covered by the same run, which reads the mappings when it starts).
    static func request(tenant: TenantID, connection: UUID) -> JobRequest {
        JobRequest(
            kind: kind, queue: SyncJobArguments.queue,
            args: ["tenant": .string(tenant.rawValue.uuidString.lowercased()), "connection": .string(connection.uuidString.lowercased())],
            maxAttempts: 5, uniqueKey: "\(kind):\(connection.uuidString.lowercased())"
        )
    }

    func run(_ context: JobContext) async throws -> JobOutcome {
        guard let tenantText = context.job.args["tenant"]?.stringValue, let tenantID = UUID(uuidString: tenantText),
              let connectionText = context.job.args["connection"]?.stringValue, let connection = UUID(uuidString: connectionText) else {
            throw HubError(.invalidInput, "a \(Self.kind) job needs tenant and connection ids")
        }
        let tenant = TenantID(tenantID)
        let info: ConnectionStore.ConnectionInfo
        do {
            info = try await ConnectionStore(client: client, logger: context.logger).connection(connection, tenant: tenant)
        } catch let error as HubError where error.code == .notFound {
            context.logger.info("the connection is gone; nothing to re-derive")
            return .completed
        }
        let definition = try await catalog.definition(name: info.connector, version: info.connectorVersion)
        let startedFrom = try await generation(info, definition: definition, logger: context.logger)
        let reader = RecordReader(client: client, keyring: keyring, logger: context.logger)
        let entities = EntityReader(client: client, keyring: keyring, logger: context.logger)
        let linked = try await entities.linkedStreams(tenant: tenant, connection: connection)
        let streams = Set(try await reader.streams(tenant: tenant, connection: connection)).union(linked.map(\.stream)).sorted()

        let saved = try await context.savedProgress()
        var done = 0
        if case .number(let count)? = saved?["records"] { done = Int(count) }
        let resumeStream = saved?["stream"]?.stringValue
        for stream in streams where resumeStream.map({ stream >= $0 }) ?? true {
            let mapped = Set(definition.sidecar.streams[stream]?.unified.keys.map { $0 } ?? [])
            for pair in linked where pair.stream == stream && !mapped.contains(pair.model) {
                try await unlinkAll(stream: stream, model: pair.model, tenant: tenant, connection: connection, context: context)
            }
            guard let linking = try await UnifiedLinking.make(definition: definition, stream: stream, tenant: tenant, connection: connection,
                                                              config: PyValue(json: info.config), client: client, keyring: keyring,
                                                              logger: context.logger) else { continue }
            var after = stream == resumeStream ? saved?["after"]?.stringValue : nil
            while true {
                try context.checkCancellation()
                let batch = try await reader.scan(tenant: tenant, connection: connection, stream: stream, after: after, limit: Self.batchSize)
                guard let last = batch.last else { break }
                let prepared = try await linking.prepare(
                    records: batch.map { RecordWriter.Input(externalID: $0.externalID, fields: $0.fields, sourceUpdatedAt: $0.sourceUpdatedAt) },
                    raw: batch.map { PyValue(json: .object($0.fields)) }
                )
                done += batch.count
                after = last.externalID
                let progress: JSONValue = ["stream": .string(stream), "after": .string(last.externalID), "records": .number(Double(done)),
                                           "streams": .number(Double(streams.count))]
                try await context.withTransaction { database in
                    // A record a sync rewrote (or deleted) since the scan was linked from its newer
                    // version by that sync: leave it be.
                    let changed = try await reader.changedSince(batch, tenant: tenant, connection: connection, stream: stream, on: database)
                    try await linking.link(prepared.map { ($0.model, $0.sources.filter { !changed.contains($0.externalID) },
                                                           $0.unmapped.filter { !changed.contains($0) }) }, on: database)
                    try await context.saveProgress(progress, on: database)
                }
                context.logger.info("re-derived unified sources", metadata: ["hub.stream": "\(stream)", "hub.records": "\(done)"])
            }
        }
        // A change made while this ran queued no job (this one held the key): run again, from
        // the start, under what derives the data now.
        let now = try await ConnectionStore(client: client, logger: context.logger).connection(connection, tenant: tenant)
        let current = try await generation(now, definition: try await catalog.definition(name: now.connector, version: now.connectorVersion),
                                           logger: context.logger)
        if current != startedFrom {
            context.logger.info("what derives the connection's unified data changed during the run; running again")
            try await context.withTransaction { database in try await context.saveProgress(.null, on: database) }
            return .snooze(.zero)
        }
        try await context.withTransaction(completing: true) { database in
            try await context.saveProgress(["records": .number(Double(done)), "streams": .number(Double(streams.count)), "finished": true],
                                           on: database)
        }
        return .completed
    }

    /// What the derivation depends on: the connector version, the config mappings read, and
    /// the version of each model mapped into.
    private func generation(_ info: ConnectionStore.ConnectionInfo, definition: ConnectorDefinition, logger: Logger) async throws -> String {
        var versions: [String] = []
        let store = ModelStore(client: client, logger: logger)
        for name in definition.mappedModels {
            let version = (try? await store.definition(name: name).version) ?? 0
            versions.append("\(name)@\(version)")
        }
        return "\(info.connectorVersion) \(info.config.canonicalJSON) \(versions.joined(separator: ","))"
    }

    /// Takes every source of `stream` out of `model`, a batch per transaction.
    private func unlinkAll(stream: String, model: String, tenant: TenantID, connection: UUID, context: JobContext) async throws {
        let entities = EntityReader(client: client, keyring: keyring, logger: context.logger)
        while true {
            try context.checkCancellation()
            let ids = try await entities.linkedExternalIDs(tenant: tenant, connection: connection, stream: stream, model: model, limit: Self.batchSize)
            guard !ids.isEmpty else { return }
            try await context.withTransaction { database in
                try await EntityStore(logger: context.logger).unlink(on: database, tenant: tenant, connection: connection, stream: stream,
                                                                     externalIDs: ids, model: model)
            }
        }
    }
}
