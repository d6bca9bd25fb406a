import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import Logging
import PostgresNIO

/// Creating and changing connections, the same for the CLI and the API: the request is checked
/// (account, schedule, status, the config against the connector version's spec), the
/// credentials are split out of the config and sealed, the connection is written and
/// scheduled. One path, one set of bounds: a limit added here holds for every way in.
public struct ConnectionService: Sendable {
    /// Shortest and longest schedule a connection may have, in seconds (a minute, a year).
    public static let scheduleRange = 60...31_536_000
    /// Longest external account name.
    public static let maxAccountLength = 200
    /// Longest a process connector's `check` may take within a request.
    static let checkTimeout: Duration = .seconds(120)

    let client: PostgresClient
    let keyring: Keyring
    let catalog: ConnectorCatalog
    /// Runs a process connector's `check` when its config is set; nil skips the check (a
    /// process without a runtime folder).
    let processes: (any ProcessCommandResolver)?
    let logger: Logger

    public init(client: PostgresClient, keyring: Keyring, catalog: ConnectorCatalog, processes: (any ProcessCommandResolver)? = nil,
                logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.catalog = catalog
        self.processes = processes
        self.logger = logger
    }

    /// A process connector's `check` with the full config, then its `discover`: a failed
    /// check, or a hub.yaml stream the source does not have, fails the request in words the
    /// user can act on, before anything is stored.
    func checkWithSource(_ definition: ConnectorDefinition, config: [String: JSONValue]) async throws {
        guard let runtime = definition.runtime else { return }
        guard let processes else {
            logger.notice("no connector runtime folder here; the source's check is skipped", metadata: ["hub.connector": "\(definition.name)"])
            return
        }
        // A check is part of a request: it gets two minutes at most, whatever a sync may take.
        var limits = AirbyteProcess.Limits(runtime)
        limits.timeout = min(limits.timeout, Self.checkTimeout)
        let source = ProcessSource(process: AirbyteProcess(command: try await processes.command(for: runtime), limits: limits,
                                                           egress: processes.egress, logger: logger))
        let outcome: (succeeded: Bool, message: String?)
        do {
            outcome = try await source.check(config: PyValue(json: .object(config)))
        } catch let failure as ConnectorProcessFailure {
            throw HubError(.invalidConfig, "\(definition.name)'s check could not run: \(failure.message)")
        } catch let violation as ProtocolViolation {
            throw HubError(.invalidConfig, "\(definition.name)'s check could not run: \(violation)")
        }
        guard outcome.succeeded else {
            throw HubError(.invalidConfig, "\(definition.name)'s check failed: \(outcome.message ?? "the source gave no reason")")
        }
        // The streams hub.yaml syncs must be ones the source has with this config.
        let catalog: PyValue
        do {
            catalog = try await source.discover(config: PyValue(json: .object(config)))
        } catch let failure as ConnectorProcessFailure {
            throw HubError(.invalidConfig, "\(definition.name)'s discover could not run: \(failure.message)")
        }
        var discovered: [String] = []
        if case .dict(let root) = catalog, case .list(let streams)? = root["streams"] {
            for case .dict(let stream) in streams { if case .string(let name)? = stream["name"] { discovered.append(name) } }
        }
        let missing = definition.streamNames.filter { !discovered.contains($0) }
        guard missing.isEmpty else {
            throw HubError(.invalidConfig, "\(definition.name)'s hub.yaml syncs \(missing.joined(separator: ", ")), which the source does not have "
                           + "with this config (it has: \(discovered.sorted().prefix(50).joined(separator: ", ")))")
        }
    }

    /// What a new connection is made of.
    public struct Request: Sendable {
        public var tenant: TenantID
        public var connector: String
        /// nil: the latest published version, which the connection is then pinned to.
        public var version: Int?
        public var account: String
        /// The connector's configuration, credentials included.
        public var config: [String: JSONValue]
        /// nil: the connector's default schedule.
        public var scheduleSeconds: Int?

        public init(tenant: TenantID, connector: String, version: Int? = nil, account: String = "", config: [String: JSONValue],
                    scheduleSeconds: Int? = nil) {
            self.tenant = tenant
            self.connector = connector
            self.version = version
            self.account = account
            self.config = config
            self.scheduleSeconds = scheduleSeconds
        }
    }

    /// Creates the connection; returns its id and the connector version it is pinned to.
    /// Throws `invalidInput` naming the field for a bad account or schedule, `invalidConfig`
    /// with the spec's message for a config the connector refuses, `notFound` for an unknown
    /// connector or version.
    public func create(_ request: Request) async throws -> (id: UUID, version: Int) {
        if request.account.count > Self.maxAccountLength {
            throw HubError(.invalidInput, "account must be at most \(Self.maxAccountLength) characters")
        }
        if let seconds = request.scheduleSeconds, !Self.scheduleRange.contains(seconds) {
            throw HubError(.invalidInput, "schedule_seconds must be from \(Self.scheduleRange.lowerBound) to \(Self.scheduleRange.upperBound), not \(seconds)")
        }
        let stored = try await ConnectorStore(client: client, logger: logger).definition(name: request.connector, version: request.version)
        let definition = try await catalog.definition(name: stored.name, version: stored.version)
        let (plain, secrets) = try Self.split(request.config, definition: definition)
        try await checkWithSource(definition, config: request.config)
        let connections = ConnectionStore(client: client, keyring: keyring, logger: logger)
        let id = try await connections.create(
            tenant: request.tenant, connector: stored.name, connectorVersion: stored.version, externalAccount: request.account,
            config: plain, credentials: Secret(Array(try JSONEncoder().encode(JSONValue.object(secrets))))
        )
        if let seconds = request.scheduleSeconds {
            _ = try await connections.update(tenant: request.tenant, connection: id, config: nil, credentials: nil, status: nil,
                                             scheduleSeconds: .some(seconds))
        }
        return (id, stored.version)
    }

    /// A change to a connection; nil fields are left as they are.
    public struct Change: Sendable {
        public var tenant: TenantID
        public var connection: UUID
        /// `active` or `paused` (`error` is the hub's to set).
        public var status: ConnectionStatus?
        /// `.some(nil)` clears the schedule (the connector's default applies).
        public var scheduleSeconds: Int??
        /// A new configuration; credentials it leaves out keep their stored values.
        public var config: [String: JSONValue]?
        /// A newer connector version to run from now on (connections never move on their own).
        public var connectorVersion: Int?

        public init(tenant: TenantID, connection: UUID, status: ConnectionStatus? = nil, scheduleSeconds: Int?? = nil,
                    config: [String: JSONValue]? = nil, connectorVersion: Int? = nil) {
            self.tenant = tenant
            self.connection = connection
            self.status = status
            self.scheduleSeconds = scheduleSeconds
            self.config = config
            self.connectorVersion = connectorVersion
        }
    }

    /// Applies a change. A new config or version is checked against the spec of the version
    /// the connection will run (the stored config against a new version's spec when only the
    /// version changes), with credentials left out of a new config kept from the stored ones.
    public func update(_ change: Change) async throws {
        if let status = change.status, !ConnectionStatus.settable.contains(status) {
            throw HubError(.invalidInput, "status must be \(ConnectionStatus.described(ConnectionStatus.settable)), not \(status.rawValue)")
        }
        if case .some(.some(let seconds)) = change.scheduleSeconds, !Self.scheduleRange.contains(seconds) {
            throw HubError(.invalidInput, "schedule_seconds must be from \(Self.scheduleRange.lowerBound) to \(Self.scheduleRange.upperBound), not \(seconds)")
        }
        let (tenant, id) = (change.tenant, change.connection)
        let connections = ConnectionStore(client: client, keyring: keyring, logger: logger)
        var plain: [String: JSONValue]?
        var sealed: Secret<[UInt8]>?
        var previousVersion: Int?
        if change.config != nil || change.connectorVersion != nil {
            let info = try await connections.connection(id, tenant: tenant)
            previousVersion = info.connectorVersion
            if let upgrade = change.connectorVersion {
                // Not found names the version; the catalog below parses and checks it.
                _ = try await ConnectorStore(client: client, logger: logger).definition(name: info.connector, version: upgrade)
            }
            let definition = try await catalog.definition(name: info.connector, version: change.connectorVersion ?? info.connectorVersion)
            let stored = info.config.objectValue ?? [:]
            var merged = change.config ?? stored
            let carried = definition.credentialFields.filter { merged[$0] == nil }
            if !carried.isEmpty {
                let existing = try await connections.credentials(for: info)
                if !existing.revealed.isEmpty {
                    guard case .object(let old)? = try? JSONDecoder().decode(JSONValue.self, from: Data(existing.revealed)) else {
                        throw HubError(.storedDataInvalid, "connection \(id)'s stored credentials are not a JSON object")
                    }
                    // Moving to another version may move requests too: its URLs may read fields the
                    // running version's do not.
                    let running = change.connectorVersion.map { $0 != info.connectorVersion } == true
                        ? try await catalog.definition(name: info.connector, version: info.connectorVersion) : nil
                    try Self.checkCarriedOver(carried.filter { old[$0] != nil }, from: stored, to: merged, definition: definition, running: running)
                    for (key, value) in old where merged[key] == nil { merged[key] = value }
                }
            }
            let (newPlain, secrets) = try Self.split(merged, definition: definition)
            if change.config != nil { try await checkWithSource(definition, config: merged) }
            plain = newPlain
            sealed = Secret(Array(try JSONEncoder().encode(JSONValue.object(secrets))))
        }
        guard try await connections.update(tenant: tenant, connection: id, config: plain, credentials: sealed, status: change.status,
                                           scheduleSeconds: change.scheduleSeconds, connectorVersion: change.connectorVersion) else {
            throw HubError(.notFound, "connection \(id) not found")
        }
        // What derives its unified data may have changed: the records already stored are
        // mapped again by a queued job, with nothing fetched again.
        if let previousVersion {
            try await RederivationService(client: client, catalog: catalog, logger: logger)
                .connectionChanged(tenant: tenant, connection: id, previousVersion: previousVersion)
        }
    }

    /// Stored credentials are write-only, so they may only follow a change that leaves where
    /// requests go alone: a change to a field the connector's URLs read (a `base_url`, a
    /// subdomain) must send the credentials again, or whoever may edit the connection could
    /// point it at a host of their own and have the next sync hand that host the credentials.
    /// `running` is the version the connection runs now, when the change moves it to
    /// `definition`: a field the new version's URLs read and the running one's did not counts
    /// as changed, whatever its value.
    static func checkCarriedOver(_ carried: Set<String>, from stored: [String: JSONValue], to merged: [String: JSONValue],
                                 definition: ConnectorDefinition, running: ConnectorDefinition? = nil) throws {
        guard !carried.isEmpty else { return }
        let credentials = definition.credentialFields
        var changed = Set(stored.keys).union(merged.keys).filter { !credentials.contains($0) && stored[$0] != merged[$0] }
        if let running {
            let present = Set(merged.keys).subtracting(credentials)
            switch (running.requestDestinations, definition.requestDestinations) {
            case (.fields(let before), .fields(let after)): changed.formUnion(after.subtracting(before).intersection(present))
            case (.anyField, .fields), (.anyField, .anyField): break
            case (.fields, .anyField): changed.formUnion(present)
            }
        }
        let moved = definition.requestDestinations.affected(by: changed)
        guard !moved.isEmpty else { return }
        let fields = moved.sorted().map { "config.\($0)" }.joined(separator: ", ")
        throw HubError(.invalidConfig, "\(fields) \(moved.count == 1 ? "decides" : "decide") where \(definition.name)'s requests go, so changing it needs the credentials "
                       + "again: send \(carried.sorted().joined(separator: ", ")) in the same config (stored credentials are only "
                       + "sent where they were given for)")
    }

    /// Checks a full configuration against the connector's spec, then splits it into plain
    /// fields and the credentials to seal.
    public static func split(_ config: [String: JSONValue], definition: ConnectorDefinition) throws
        -> (plain: [String: JSONValue], secrets: [String: JSONValue])
    {
        do {
            try definition.validate(config: PyValue(json: .object(config)))
        } catch let error as HubError {
            throw HubError(.invalidConfig, error.message)
        }
        let secretNames = definition.credentialFields
        var plain: [String: JSONValue] = [:], secrets: [String: JSONValue] = [:]
        for (key, value) in config {
            if secretNames.contains(key) { secrets[key] = value } else { plain[key] = value }
        }
        return (plain, secrets)
    }
}
