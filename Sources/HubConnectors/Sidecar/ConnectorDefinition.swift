import Foundation
import HubCore
import HubCrypto

/// A connector ready to register or run: its manifest and sidecar, loaded and checked against
/// each other (every stream the sidecar names exists; every stream has a primary key).
public struct ConnectorDefinition: Sendable {
    public let name: String
    public let manifestText: String
    public let sidecarText: String
    /// The manifest our engine runs; nil for a process connector.
    public let source: DeclarativeSource?
    public let sidecar: ConnectorSidecar
    /// The spec's `connection_specification`: the manifest's, or what a process connector's
    /// `spec` printed when it was registered (kept in place of its manifest).
    public let connectionSpecification: PyValue?
    /// The streams Tributary syncs: the manifest's, or for a process connector those its
    /// hub.yaml declares (with their keys and cursors).
    public let streamNames: [String]

    /// The streams a sync of a connection with `config` starts: a manifest's `ConditionalStreams`
    /// leave theirs out while their condition is false. Chosen before the credentials are at
    /// hand: a condition that cannot be decided on this config (it reads a field that is
    /// absent, or the config's normalization needs one) keeps its stream, and the sync job
    /// decides again with the whole config.
    public func streamNames(config: PyValue) -> [String] {
        guard let source else { return streamNames }
        let normalized = (try? source.normalizedConfig(config)) ?? config
        return streamNames.filter { (try? source.isAvailable($0, config: normalized)) ?? true }
    }

    /// How the connector runs: the engine, or a process (`hub.yaml` `runtime`).
    public var runtime: ProcessRuntime? { sidecar.runtime }

    /// The same connector with its process source's spec (what `spec` printed) as its manifest.
    public func withSpecification(_ specification: PyValue) throws -> ConnectorDefinition {
        try ConnectorDefinition(name: name, manifest: specification.jsonText, sidecar: sidecarText)
    }

    public init(name: String, manifest: String, sidecar: String) throws {
        guard name.range(of: "^[a-z0-9][a-z0-9_-]{0,99}$", options: .regularExpression) != nil else {
            throw HubError(.invalidInput, "connector name \(PyRepr.string(name)) must be lowercase letters, digits, - and _")
        }
        self.name = name
        manifestText = manifest
        sidecarText = sidecar
        do {
            self.sidecar = sidecar.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                ? ConnectorSidecar() : try ConnectorSidecar(yaml: sidecar, source: "\(name)/hub.yaml")
            if self.sidecar.runtime != nil {
                // A process connector: the "manifest" is the spec its source printed (JSON), or empty.
                source = nil
                let spec = manifest.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                    ? PyValue.none : try YAMLDocument.load(manifest, source: "\(name)/spec.json")
                connectionSpecification = spec == .none ? nil : spec
                streamNames = self.sidecar.streams.keys.sorted()
            } else {
                let source = try DeclarativeSource(yaml: manifest, source: "\(name)/manifest.yaml")
                self.source = source
                connectionSpecification = source.connectionSpecification
                streamNames = source.streamNames
            }
        } catch let error as ManifestError {
            throw HubError(.invalidInput, "connector \(name): \(error)")
        } catch let error as ManifestProblems {
            throw HubError(.invalidInput, "connector \(name): \(error)")
        }
        var problems: [String] = []
        if let source {
            for stream in self.sidecar.streams.keys.sorted() where !source.streamNames.contains(stream) {
                problems.append("hub.yaml streams.\(stream): the manifest has no such stream (it has \(source.streamNames.joined(separator: ", ")))")
            }
            // A sync job belongs to one queue group: a grouped stream would slip out of the
            // account's limit.
            if !source.blockingGroups.isEmpty, self.sidecar.accountConcurrency != nil {
                problems.append("hub.yaml account_concurrency cannot be combined with the manifest's stream_groups "
                                + "(a sync job takes one queue group: a grouped stream would not count against the account's slots)")
            }
        } else if streamNames.isEmpty {
            problems.append("hub.yaml streams: a process connector lists the streams to sync, each with its primary_key "
                            + "(and cursor_field to sync incrementally); `tributary connectors read` shows what the source has")
        }
        for stream in streamNames where primaryKey(stream).isEmpty {
            problems.append("stream \(stream) has no primary key: set primary_key in the manifest or in hub.yaml streams.\(stream)")
        }
        for (stream, policy) in self.sidecar.streams.sorted(by: { $0.key < $1.key }) {
            // Sealing works on top-level fields: a dotted path would match none and be stored
            // in clear while the sidecar says otherwise.
            for field in policy.sensitive + policy.blindIndexes.map(\.name)
            where field.contains(".") || field.contains("/") || field.contains("[") || field.isEmpty {
                problems.append("hub.yaml streams.\(stream): \(PyRepr.string(field)) is not a top-level field name; nested paths are not "
                                + "supported: mark the top-level field that holds it (the whole value is sealed)")
            }
            // A record's key and cursor are stored in clear (they address and order the row),
            // so a field cannot be both those and sensitive.
            let sensitive = Set(policy.sensitive)
            for key in primaryKey(stream) where key.first.map(sensitive.contains) == true {
                problems.append("hub.yaml streams.\(stream): \(key.joined(separator: ".")) is part of the primary key, which is stored "
                                + "in clear, so it cannot be sensitive; key the stream on another field")
            }
            if let cursor = updatedAtField(stream), sensitive.contains(cursor) {
                problems.append("hub.yaml streams.\(stream): \(cursor) is the cursor field, which is stored in clear to order "
                                + "changes, so it cannot be sensitive")
            }
        }
        if let webhooks = self.sidecar.webhooks {
            for (type, route) in webhooks.events.sorted(by: { $0.key < $1.key }) where !streamNames.contains(route.stream) {
                problems.append("hub.yaml webhooks.events.\(type).stream: the manifest has no stream \(route.stream)")
            }
            if !credentialFields.contains(webhooks.signature.secretField) {
                problems.append("hub.yaml webhooks.signature.secret: \(webhooks.signature.secretField) must be a credential "
                                + "(listed in credentials, or airbyte_secret in the spec), so the signing secret is stored encrypted")
            }
        }
        if !problems.isEmpty {
            throw HubError(.invalidInput, "connector \(name):\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
    }

    /// Loads `PATH/manifest.yaml` and `PATH/hub.yaml`; the folder's name is the connector's. A
    /// process connector's folder has only hub.yaml; its spec is added when it is registered.
    public static func load(folder: String) throws -> ConnectorDefinition {
        let url = URL(fileURLWithPath: folder)
        let manifestURL = url.appendingPathComponent("manifest.yaml")
        let sidecar = (try? String(contentsOf: url.appendingPathComponent("hub.yaml"), encoding: .utf8)) ?? ""
        guard let manifest = try? String(contentsOf: manifestURL, encoding: .utf8) else {
            // A process connector has no manifest: its hub.yaml names the source to run.
            if sidecar.contains("runtime"), let parsed = try? ConnectorSidecar(yaml: sidecar), parsed.runtime != nil {
                return try ConnectorDefinition(name: url.standardizedFileURL.lastPathComponent, manifest: "", sidecar: sidecar)
            }
            throw HubError(.notFound, "cannot read \(manifestURL.path); a connector is a folder with manifest.yaml and hub.yaml "
                           + "(or a hub.yaml whose runtime names an Airbyte source to run as a process)")
        }
        return try ConnectorDefinition(name: url.standardizedFileURL.lastPathComponent, manifest: manifest, sidecar: sidecar)
    }

    public func primaryKey(_ stream: String) -> [[String]] {
        if let override = sidecar.streams[stream]?.primaryKey { return override }
        return source?.streams.first { $0.name == stream }?.primaryKey ?? []
    }

    /// The record field that says when the provider last changed a record (the sidecar's
    /// `cursor_field`, else the manifest cursor's), so an older version never overwrites a newer.
    public func updatedAtField(_ stream: String) -> String? {
        if let field = sidecar.streams[stream]?.cursorField { return field }
        guard let cursor = source?.cursor(of: stream) else { return nil }
        return try? cursor.cursorFieldName(ExpressionContext(now: PyDateTime(wallMicros: 0, offset: 0)))
    }

    /// What the store seals and indexes for a stream's records.
    public func recordPolicy(_ stream: String) -> RecordPolicy {
        let settings = sidecar.streams[stream]
        return RecordPolicy(sensitiveFields: Set(settings?.sensitive ?? []), blindIndexes: settings?.blindIndexes ?? [])
    }

    public func isIncremental(_ stream: String) -> Bool {
        guard let source else { return sidecar.streams[stream]?.cursorField != nil }
        return source.cursor(of: stream) != nil || source.streams.contains { $0.name == stream && $0.countCursor != nil }
    }

    /// The config fields that decide where requests go: stored credentials never follow a
    /// change to them.
    /// A process connector's code decides where its requests go, out of our sight: any change
    /// needs the credentials again.
    public var requestDestinations: RequestDestinations { source.map { RequestDestinations(manifest: $0.resolved) } ?? .anyField }

    /// Config fields that are credentials: the sidecar's list, and every top-level field of the
    /// spec holding an `airbyte_secret` anywhere inside (an OAuth `credentials` object with its
    /// `client_secret`, a `oneOf` of auth methods): the whole field is sealed.
    public var credentialFields: Set<String> {
        var fields = Set(sidecar.credentialFields)
        if case .dict(let spec)? = connectionSpecification, case .dict(let properties)? = spec["properties"] {
            for (key, value) in properties.entries where Self.holdsSecret(value, depth: 0) { fields.insert(PyRepr.str(key)) }
        }
        return fields
    }

    /// Whether a schema, or any schema inside it, is marked `airbyte_secret`.
    private static func holdsSecret(_ schema: PyValue, depth: Int) -> Bool {
        guard depth < 32 else { return true }
        switch schema {
        case .dict(let dict):
            if dict["airbyte_secret"] == .bool(true) { return true }
            return dict.values.contains { holdsSecret($0, depth: depth + 1) }
        case .list(let items):
            return items.contains { holdsSecret($0, depth: depth + 1) }
        default:
            return false
        }
    }

    /// Checks a full configuration (credentials included) against the manifest's spec.
    public func validate(config: PyValue) throws {
        let problems = ConfigValidator.problems(config, schema: connectionSpecification)
        guard problems.isEmpty else {
            throw HubError(.invalidInput, "the configuration for \(name) is invalid:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
    }
}
