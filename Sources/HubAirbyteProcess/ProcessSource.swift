import HubConnectors
import HubCore

/// An Airbyte source run as a process: the protocol's four commands, each answering with what
/// its messages say (the SPEC, the check's outcome, the CATALOG), or failing with why.
public struct ProcessSource: Sendable {
    public let process: AirbyteProcess

    public init(process: AirbyteProcess) {
        self.process = process
    }

    /// The connection specification (`spec.connectionSpecification`).
    public func spec() async throws -> PyValue {
        let found = RunMonitor.Shared<PyValue?>(nil)
        try await process.run("spec") { message in
            if case .spec(let spec) = message { found.withLock { $0 = $0 ?? spec } }
        }
        guard case .dict(let spec)? = found.withLock({ $0 }), let specification = spec["connectionSpecification"] else {
            throw ConnectorProcessFailure("wrote no SPEC message with a connectionSpecification")
        }
        return specification
    }

    /// Whether the config reaches the API; the message is the source's own.
    public func check(config: PyValue) async throws -> (succeeded: Bool, message: String?) {
        let found = RunMonitor.Shared<(Bool, String?)?>(nil)
        try await process.run("check", .init(config: config)) { message in
            if case .connectionStatus(let succeeded, let text) = message { found.withLock { $0 = $0 ?? (succeeded, text) } }
        }
        guard let outcome = found.withLock({ $0 }) else { throw ConnectorProcessFailure("wrote no CONNECTION_STATUS message") }
        return outcome
    }

    /// The streams, with their sync modes, cursor fields and primary keys.
    public func discover(config: PyValue) async throws -> PyValue {
        let found = RunMonitor.Shared<PyValue?>(nil)
        try await process.run("discover", .init(config: config)) { message in
            if case .catalog(let catalog) = message { found.withLock { $0 = $0 ?? catalog } }
        }
        guard let catalog = found.withLock({ $0 }) else { throw ConnectorProcessFailure("wrote no CATALOG message") }
        return catalog
    }

    /// Reads the configured catalog's streams from a state, handing on every message in order.
    public func read(config: PyValue, catalog: PyValue, state: PyValue?,
                     handle: @escaping @Sendable (AirbyteMessage) async throws -> Void) async throws {
        try await process.run("read", .init(config: config, catalog: catalog, state: state), handle: handle)
    }

    /// A configured catalog reading every discovered stream, incrementally where it can.
    public static func configuredCatalog(from catalog: PyValue, streams selected: [String]? = nil) -> PyValue {
        guard case .dict(let root) = catalog, case .list(let streams)? = root["streams"] else { return .dict(PyDict()) }
        var configured: [PyValue] = []
        for stream in streams {
            guard case .dict(let fields) = stream, case .string(let name)? = fields["name"] else { continue }
            if let selected, !selected.contains(name) { continue }
            var modes: [PyValue] = []
            if case .list(let supported)? = fields["supported_sync_modes"] { modes = supported }
            let incremental = modes.contains(.string("incremental"))
            var entry = PyDict()
            entry["stream"] = stream
            entry["sync_mode"] = .string(incremental ? "incremental" : "full_refresh")
            entry["destination_sync_mode"] = .string("append")
            if incremental, case .list(let cursor)? = fields["default_cursor_field"] { entry["cursor_field"] = .list(cursor) }
            if case .list(let key)? = fields["source_defined_primary_key"] { entry["primary_key"] = .list(key) }
            configured.append(.dict(entry))
        }
        var result = PyDict()
        result["streams"] = .list(configured)
        return .dict(result)
    }
}
