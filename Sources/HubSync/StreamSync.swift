import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import Logging
import PostgresNIO

/// The `sync.stream` job: pages through one stream of one connection and upserts each batch,
/// encrypted, in the same fenced transaction as the state that covers it. A crash anywhere
/// resumes from the last committed state; upserts are idempotent, so nothing is duplicated.
struct StreamSync: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let catalog: ConnectorCatalog
    let transport: any HTTPTransport
    let environment: EngineEnvironment
    let batchSize: Int
    let logger: Logger

    func run(_ context: JobContext) async throws -> JobOutcome {
        let arguments = try SyncJobArguments(context.job.args)
        let syncs = SyncStore(client: client, logger: context.logger)
        let info = try await syncs.connection(arguments.connection, tenant: arguments.tenant)
        guard info.status != "paused" else {
            try await context.withTransaction(completing: true) { database in
                try await syncs.finishRun(on: database, run: arguments.run, connection: arguments.connection)
            }
            return .completed
        }
        let definition = try await catalog.definition(name: info.connector, version: info.connectorVersion)
        guard definition.source.streamNames.contains(arguments.stream) else {
            throw HubError(.invalidInput, "connector \(info.connector) v\(info.connectorVersion) has no stream \(arguments.stream)")
        }
        let config = try await configuration(info, tenant: arguments.tenant)
        let incremental = definition.isIncremental(arguments.stream) && !arguments.fullRefresh
        let state = incremental ? try await syncs.state(connection: arguments.connection, stream: arguments.stream) : nil
        try await syncs.startRun(arguments.run)

        let batch = SyncBatch(
            arguments: arguments, definition: definition, policy: definition.recordPolicy(arguments.stream),
            writer: RecordWriter(client: client, keyring: keyring, logger: context.logger), syncs: syncs,
            context: context, batchSize: batchSize, trackSeen: !incremental
        )
        var environment = self.environment
        environment.rateLimitHandoff = true
        let reader = StreamReader(source: definition.source, config: config, transport: transport, environment: environment)
        do {
            try await reader.read(stream: arguments.stream, state: state.map(PyValue.init(json:))) { event in
                try context.checkCancellation()
                try await batch.handle(event)
            }
            try await batch.finish()
            return .completed
        } catch let limited as RateLimited {
            // What was read before the 429 is kept; the job resumes from the last state.
            try await batch.flush(state: nil)
            await batch.abandon()
            context.logger.info("rate limited; snoozing", metadata: ["hub.sync.retry_after": "\(limited.retryAfter)"])
            return .snooze(.milliseconds(Int64(max(1, limited.retryAfter) * 1000)))
        } catch {
            await batch.abandon()
            try? await syncs.failRun(arguments.run, connection: arguments.connection,
                                     error: Self.describe(error, stream: arguments.stream, attempt: context.job.attempt),
                                     final: context.job.attempt >= context.job.maxAttempts)
            throw error
        }
    }

    /// The connection's stored config with its decrypted credentials merged in.
    private func configuration(_ info: SyncStore.ConnectionInfo, tenant: TenantID) async throws -> PyValue {
        var config = PyValue(json: info.config)
        let sealed = try await ConnectionStore(client: client, keyring: keyring, logger: logger)
            .credentials(tenant: tenant, connection: info.id)
        if !sealed.revealed.isEmpty {
            guard case .dict(let credentials) = try PyValue.parseJSON(sealed.revealed), case .dict(var merged) = config else {
                throw HubError(.invalidInput, "connection \(info.id)'s credentials are not a JSON object")
            }
            for (key, value) in credentials.entries { merged[key] = value }
            config = .dict(merged)
        }
        return config
    }

    /// What a failure leaves on the run and the connection: what failed, where, the HTTP status.
    static func describe(_ error: any Error, stream: String, attempt: Int) -> JSONValue {
        var fields: [String: JSONValue] = ["stream": .string(stream), "attempt": .number(Double(attempt))]
        switch error {
        case let failure as RequestFailure:
            fields["message"] = .string(failure.message)
            fields["manifest_path"] = .string(failure.path.description)
            if let status = failure.status { fields["http_status"] = .number(Double(status)) }
        case let failure as ManifestError:
            fields["message"] = .string(failure.message)
            fields["manifest_path"] = .string(failure.path.description)
        case let failure as HubError:
            fields["message"] = .string(failure.message)
            fields["code"] = .string(failure.code.rawValue)
        default:
            fields["message"] = .string(String(describing: error))
        }
        return .object(fields)
    }
}
