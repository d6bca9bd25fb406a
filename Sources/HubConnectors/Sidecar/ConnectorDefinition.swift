import Foundation
import HubCore
import HubCrypto

/// A connector ready to register or run: its manifest and sidecar, loaded and checked against
/// each other (every stream the sidecar names exists; every stream has a primary key).
public struct ConnectorDefinition: Sendable {
    public let name: String
    public let manifestText: String
    public let sidecarText: String
    public let source: DeclarativeSource
    public let sidecar: ConnectorSidecar

    public init(name: String, manifest: String, sidecar: String) throws {
        guard name.range(of: "^[a-z0-9][a-z0-9_-]{0,99}$", options: .regularExpression) != nil else {
            throw HubError(.invalidInput, "connector name \(PyRepr.string(name)) must be lowercase letters, digits, - and _")
        }
        self.name = name
        manifestText = manifest
        sidecarText = sidecar
        do {
            source = try DeclarativeSource(yaml: manifest, source: "\(name)/manifest.yaml")
            self.sidecar = sidecar.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                ? ConnectorSidecar() : try ConnectorSidecar(yaml: sidecar, source: "\(name)/hub.yaml")
        } catch let error as ManifestError {
            throw HubError(.invalidInput, "connector \(name): \(error)")
        } catch let error as ManifestProblems {
            throw HubError(.invalidInput, "connector \(name): \(error)")
        }
        var problems: [String] = []
        for stream in self.sidecar.streams.keys.sorted() where !source.streamNames.contains(stream) {
            problems.append("hub.yaml streams.\(stream): the manifest has no such stream (it has \(source.streamNames.joined(separator: ", ")))")
        }
        for stream in source.streamNames where primaryKey(stream).isEmpty {
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
            for (type, route) in webhooks.events.sorted(by: { $0.key < $1.key }) where !source.streamNames.contains(route.stream) {
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

    /// Loads `PATH/manifest.yaml` and `PATH/hub.yaml`; the folder's name is the connector's.
    public static func load(folder: String) throws -> ConnectorDefinition {
        let url = URL(fileURLWithPath: folder)
        let manifestURL = url.appendingPathComponent("manifest.yaml")
        guard let manifest = try? String(contentsOf: manifestURL, encoding: .utf8) else {
            throw HubError(.notFound, "cannot read \(manifestURL.path); a connector is a folder with manifest.yaml and hub.yaml")
        }
        let sidecar = (try? String(contentsOf: url.appendingPathComponent("hub.yaml"), encoding: .utf8)) ?? ""
        return try ConnectorDefinition(name: url.standardizedFileURL.lastPathComponent, manifest: manifest, sidecar: sidecar)
    }

    public func primaryKey(_ stream: String) -> [[String]] {
        if let override = sidecar.streams[stream]?.primaryKey { return override }
        return source.streams.first { $0.name == stream }?.primaryKey ?? []
    }

    /// The record field that says when the provider last changed a record (the sidecar's
    /// `cursor_field`, else the manifest cursor's), so an older version never overwrites a newer.
    public func updatedAtField(_ stream: String) -> String? {
        if let field = sidecar.streams[stream]?.cursorField { return field }
        guard let cursor = source.cursor(of: stream) else { return nil }
        return try? cursor.cursorFieldName(ExpressionContext(now: PyDateTime(wallMicros: 0, offset: 0)))
    }

    /// What the store seals and indexes for a stream's records.
    public func recordPolicy(_ stream: String) -> RecordPolicy {
        let settings = sidecar.streams[stream]
        return RecordPolicy(sensitiveFields: Set(settings?.sensitive ?? []), blindIndexes: settings?.blindIndexes ?? [])
    }

    public func isIncremental(_ stream: String) -> Bool {
        source.cursor(of: stream) != nil || source.streams.contains { $0.name == stream && $0.countCursor != nil }
    }

    /// The config fields that decide where requests go: stored credentials never follow a
    /// change to them.
    public var requestDestinations: RequestDestinations { RequestDestinations(manifest: source.resolved) }

    /// Config fields that are credentials: the sidecar's list and the spec's `airbyte_secret` fields.
    public var credentialFields: Set<String> {
        var fields = Set(sidecar.credentialFields)
        if case .dict(let spec)? = source.connectionSpecification, case .dict(let properties)? = spec["properties"] {
            for (key, value) in properties.entries {
                if case .dict(let property) = value, property["airbyte_secret"] == .bool(true) { fields.insert(PyRepr.str(key)) }
            }
        }
        return fields
    }

    /// Checks a full configuration (credentials included) against the manifest's spec.
    public func validate(config: PyValue) throws {
        let problems = ConfigValidator.problems(config, schema: source.connectionSpecification)
        guard problems.isEmpty else {
            throw HubError(.invalidInput, "the configuration for \(name) is invalid:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
    }
}
