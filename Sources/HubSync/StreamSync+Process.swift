import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import Logging
import PostgresNIO
import Synchronization

extension StreamSync {
    /// The `sync.stream` job of a process connector: runs the source's `read` for this one
    /// stream from its stored state, and writes what it says through the same batch as the
    /// engine's records: records sealed and indexed, each STATE committed with the records
    /// before it in one fenced transaction (the Airbyte checkpoint rule), so a crash resumes
    /// from the last state and duplicates nothing. STREAM, GLOBAL and LEGACY states are kept
    /// per stream as `ProcessStreamState` says.
    func runProcess(_ arguments: SyncJobArguments, definition: ConnectorDefinition, runtime: ProcessRuntime,
                    config: PyValue, incremental: Bool, batch: SyncBatch,
                    state: JSONValue?, context: JobContext) async throws -> JobOutcome {
        guard let processes else {
            throw HubError(.invalidConfiguration, "connector \(definition.name) runs as a process, and this worker has no connector runtime folder")
        }
        let command = try await processes.command(for: runtime)
        let source = ProcessSource(process: AirbyteProcess(command: command, limits: .init(runtime), egress: processes.egress, logger: context.logger))
        let stream = arguments.stream
        let catalog = Self.configuredCatalog(stream: stream, definition: definition, incremental: incremental)
        let states = state.map { ProcessStreamState.input(PyValue(json: $0), stream: stream) }
        let updater = ConfigWriteBack(client: client, keyring: keyring, definition: definition, tenant: arguments.tenant,
                                      connection: arguments.connection, logger: context.logger)
        let logger = context.logger
        // A stream the source says it did not finish must not complete: a full pass would mark
        // every record it did not get to as deleted.
        let reported = FirstFailure()
        return try await batch.withBackgroundCommits {
            try await source.read(config: config, catalog: catalog, state: incremental ? states : nil) { message in
                try context.checkCancellation()
                switch message {
                case .record(let name, let data) where name == stream:
                    try await batch.handle(.record(stream: stream, data: data))
                case .record:
                    break
                case .state(let reported):
                    if let kept = ProcessStreamState.stored(reported, stream: stream) {
                        try await batch.handle(.state(stream: stream, state: kept))
                    }
                case .configUpdate(let updated):
                    // Written only while this attempt still holds the job (a fenced no-op first).
                    try await context.withTransaction { _ in }
                    try await updater.write(updated)
                case .error(let text, let name, let type) where name == nil || name == stream:
                    reported.record(text, configuration: type == "config_error")
                case .streamStatus(let name, "INCOMPLETE") where name == stream:
                    reported.record("the source reported the stream INCOMPLETE")
                case .log(let level, let text):
                    logger.debug("\(text)", metadata: ["hub.connector.level": "\(level)"])
                case .streamStatus, .error, .otherTrace, .spec, .catalog, .connectionStatus:
                    break
                }
            }
            if let (reason, configuration) = reported.first {
                throw ConnectorProcessFailure("exited 0 but did not finish stream \(stream): \(reason.prefix(2_000))",
                                              isConfigurationError: configuration)
            }
            try await batch.finish()
            return .completed
        }
    }

    /// The catalog of one stream, as Airbyte's platform would configure it from the sidecar's
    /// keys and cursor; nothing is discovered per job.
    static func configuredCatalog(stream: String, definition: ConnectorDefinition, incremental: Bool) -> PyValue {
        var descriptor = PyDict()
        descriptor["name"] = .string(stream)
        descriptor["json_schema"] = .dict(PyDict())
        descriptor["supported_sync_modes"] = .list(incremental ? [.string("full_refresh"), .string("incremental")] : [.string("full_refresh")])
        var entry = PyDict()
        entry["stream"] = .dict(descriptor)
        entry["sync_mode"] = .string(incremental ? "incremental" : "full_refresh")
        entry["destination_sync_mode"] = .string("append_dedup")
        if incremental, let cursor = definition.updatedAtField(stream) { entry["cursor_field"] = .list([.string(cursor)]) }
        entry["primary_key"] = .list(definition.primaryKey(stream).map { .list($0.map(PyValue.string)) })
        var catalog = PyDict()
        catalog["streams"] = .list([.dict(entry)])
        return .dict(catalog)
    }
}

/// A source's `CONTROL` config update (a rotated OAuth token): the new config is split and
/// sealed like any config change, and written back to the connection at once, since the old
/// token may already be revoked.
struct ConfigWriteBack: Sendable {
    let client: PostgresClient
    let keyring: Keyring
    let definition: ConnectorDefinition
    let tenant: TenantID
    let connection: UUID
    let logger: Logger

    /// Only credential fields are taken: a source may rotate a token, not move the connection
    /// (a new `base_url` from a source would carry the credentials elsewhere).
    func write(_ updated: PyValue) async throws {
        guard case .object(let fields) = updated.json else {
            throw HubError(.invalidInput, "the source's CONTROL config update is not a JSON object")
        }
        let store = ConnectionStore(client: client, keyring: keyring, logger: logger)
        let info = try await store.connection(connection, tenant: tenant)
        let existing = try await store.credentials(for: info)
        var credentials: [String: JSONValue] = [:]
        if !existing.revealed.isEmpty, case .object(let old) = try JSONDecoder().decode(JSONValue.self, from: Data(existing.revealed)) {
            credentials = old
        }
        let secretFields = definition.credentialFields
        var ignored: [String] = []
        for (key, value) in fields {
            if secretFields.contains(key) { credentials[key] = value } else if info.config.objectValue?[key] != value { ignored.append(key) }
        }
        if !ignored.isEmpty {
            logger.warning("the source's config update changed fields that are not credentials; they are not stored",
                           metadata: ["hub.sync.connection": "\(connection)", "hub.sync.fields": "\(ignored.sorted())"])
        }
        let sealed = Secret(Array(try JSONEncoder().encode(JSONValue.object(credentials))))
        guard try await store.update(tenant: tenant, connection: connection, config: info.config.objectValue ?? [:], credentials: sealed,
                                     status: nil, scheduleSeconds: nil) else {
            throw HubError(.notFound, "connection \(connection) was deleted during its sync")
        }
        logger.notice("the source rotated its credentials; stored sealed", metadata: ["hub.sync.connection": "\(connection)"])
    }
}

/// The first failure a source reported for the stream, kept across the read's messages.
final class FirstFailure: Sendable {
    private let reason = Mutex<(text: String, configuration: Bool)?>(nil)
    func record(_ text: String, configuration: Bool = false) { reason.withLock { $0 = $0 ?? (text, configuration) } }
    var first: (text: String, configuration: Bool)? { reason.withLock { $0 } }
}
