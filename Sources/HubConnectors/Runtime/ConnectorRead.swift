import Foundation
import HubCore

/// `tributary connectors read`: runs a manifest without any database and writes Airbyte
/// protocol messages — the connector author's test loop and what the conformance suite compares.
public struct ConnectorRead: Sendable {
    public let source: DeclarativeSource
    public let config: PyValue
    public let catalog: PyValue?
    public let states: [String: PyValue]
    public let streams: [String]?

    public init(source: DeclarativeSource, config given: PyValue, catalog: PyValue? = nil, state: PyValue? = nil, streams: [String]? = nil) throws {
        let config: PyValue
        do { config = try source.normalizedConfig(given) } catch let error as ManifestError {
            throw HubError(.invalidInput, "the connector configuration is invalid:\n  - \(error)")
        }
        let problems = ConfigValidator.problems(config, schema: source.connectionSpecification)
        guard problems.isEmpty else {
            throw HubError(.invalidInput, "the connector configuration is invalid:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
        self.source = source
        self.config = config
        self.catalog = catalog
        self.states = state.map(AirbyteProtocol.streamStates) ?? [:]
        self.streams = streams
    }

    /// Loads `manifest.yaml` from a connector folder (or the file itself).
    /// `follow_redirects` of the `hub.yaml` in a connector folder; false without one.
    public static func followsRedirects(at path: String) throws -> Bool {
        let file = (path as NSString).appendingPathComponent("hub.yaml")
        guard let data = FileManager.default.contents(atPath: file) else { return false }
        do {
            return try ConnectorSidecar(yaml: String(decoding: data, as: UTF8.self), source: file).followRedirects
        } catch let error as ManifestError {
            throw HubError(.invalidInput, "\(file): \(error)")
        } catch let error as ManifestProblems {
            throw HubError(.invalidInput, "\(file): \(error)")
        }
    }

    public static func loadSource(at path: String) throws -> DeclarativeSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw HubError(.notFound, "no connector at \(path)")
        }
        let file = isDirectory.boolValue ? (path as NSString).appendingPathComponent("manifest.yaml") : path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw HubError(.notFound, "cannot read \(file)")
        }
        do {
            return try DeclarativeSource(yaml: String(decoding: data, as: UTF8.self), source: file)
        } catch let error as ManifestError {
            throw HubError(.invalidInput, "\(file): \(error)")
        } catch let error as ManifestProblems {
            throw HubError(.invalidInput, "\(file): \(error)")
        }
    }

    /// Parses a JSON document (config, catalog, state) with a clear error naming the file.
    public static func loadJSON(at path: String, what: String) throws -> PyValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HubError(.notFound, "cannot read the \(what) file \(path)")
        }
        do {
            return try JSONBody.decode(Array(data), path: .root)
        } catch let error as ResponseDecodingError {
            throw HubError(.invalidInput, "the \(what) file \(path) is not valid JSON: \(error.message)")
        }
    }

    /// The streams to read, in order, and whether each reads incrementally.
    public var selectedStreams: [(name: String, incremental: Bool)] {
        var selected: [(String, Bool)]
        if let catalog {
            selected = AirbyteProtocol.catalogStreams(catalog)
        } else {
            selected = source.streamNames.map { ($0, true) }
        }
        if let streams { selected = selected.filter { streams.contains($0.0) } }
        return selected
    }

    /// Reads every selected stream, writing one protocol line per message. Returns the
    /// number of streams that failed.
    public func run(transport: any HTTPTransport, environment: EngineEnvironment,
                    write: @escaping @Sendable (String) -> Void) async throws -> Int {
        for name in streams ?? [] where !source.streamNames.contains(name) {
            throw HubError(.invalidInput, "the manifest has no stream \(name); it has \(source.streamNames.joined(separator: ", "))")
        }
        let reader = StreamReader(source: source, config: config, transport: transport, environment: environment)
        // As the CDK, which builds every stream (its cursor's start, end and step, the state it
        // resumes from) before reading any: a failure there fails the whole read, no stream begun.
        do {
            for (name, incremental) in selectedStreams where source.streamNames.contains(name) {
                try reader.prepare(stream: name, state: incremental ? states[name] : nil)
            }
        } catch {
            write(AirbyteProtocol.errorLine("the source could not be set up: \(error)", emittedAt: Int64(environment.now().timestamp * 1000)))
            return selectedStreams.count
        }
        var failures = 0
        for (name, incremental) in selectedStreams {
            guard source.streamNames.contains(name) else {
                throw HubError(.invalidInput, "the catalog names a stream the manifest lacks: \(name)")
            }
            let emittedAt: @Sendable () -> Int64 = { Int64(environment.now().timestamp * 1000) }
            guard try source.isAvailable(name, config: config) else {
                write(AirbyteProtocol.unavailableLine(stream: name, emittedAt: emittedAt()))
                failures += 1
                continue
            }
            do {
                try await reader.read(stream: name, state: incremental ? states[name] : nil) { event in
                    if let line = AirbyteProtocol.line(for: event, emittedAt: emittedAt()) { write(line) }
                }
            } catch {
                failures += 1
            }
        }
        return failures
    }
}

extension PyValue {
    /// Parses JSON text into a value (ints stay ints, key order is kept).
    public static func parseJSON(_ bytes: [UInt8]) throws -> PyValue {
        do { return try JSONBody.decode(bytes, path: .root) } catch let error as ResponseDecodingError {
            throw HubError(.invalidInput, "invalid JSON: \(error.message)")
        }
    }

    /// Compact JSON in key order.
    public var jsonText: String { JSONBody.encode(self) }

    /// Python's `str()` of the value: strings as they are, everything else as Python prints it.
    public var text: String { PyRepr.str(self) }
}

extension EngineEnvironment {
    /// A clock frozen at an RFC 3339 instant (`TRIBUTARY_FROZEN_NOW`).
    public static func frozenClock(_ text: String) throws -> @Sendable () -> PyDateTime {
        do {
            let instant = try Macros.toDatetime(text)
            return { instant }
        } catch {
            throw HubError(.invalidConfiguration, "TRIBUTARY_FROZEN_NOW must be an RFC 3339 time such as 2024-06-01T12:00:00Z")
        }
    }
}
