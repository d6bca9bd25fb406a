/// Airbyte protocol messages as JSON lines, the shape `source-declarative-manifest read`
/// prints: RECORD, STATE (per stream), TRACE stream status and errors, LOG.
public enum AirbyteProtocol {
    public static func line(for event: SourceEvent, emittedAt: Int64) -> String? {
        func descriptor(_ stream: String) -> PyValue {
            var dict = PyDict()
            dict["name"] = .string(stream)
            return .dict(dict)
        }
        func object(_ pairs: [(String, PyValue)]) -> PyValue {
            var dict = PyDict()
            for (key, value) in pairs { dict[key] = value }
            return .dict(dict)
        }
        func status(_ stream: String, _ value: String, reasons: [PyValue] = []) -> PyValue {
            statusMessage(stream: stream, status: value, reasons: reasons, emittedAt: emittedAt)
        }
        let message: PyValue
        switch event {
        case .started(let stream): message = status(stream, "STARTED")
        case .running(let stream): message = status(stream, "RUNNING")
        case .rateLimited(let stream): message = status(stream, "RUNNING", reasons: [object([("type", .string("RATE_LIMITED"))])])
        case .complete(let stream): message = status(stream, "COMPLETE")
        case .incomplete(let stream, let error):
            return JSONBody.encode(object([("type", .string("TRACE")), ("trace", object([
                ("type", .string("ERROR")), ("emitted_at", .int(Int(emittedAt))),
                ("error", object([("message", .string(error)), ("failure_type", .string("system_error")),
                                  ("stream_descriptor", descriptor(stream))])),
            ]))])) + "\n" + JSONBody.encode(status(stream, "INCOMPLETE"))
        case .record(let stream, let data):
            message = object([("type", .string("RECORD")), ("record", object([
                ("stream", .string(stream)), ("data", data), ("emitted_at", .int(Int(emittedAt))),
            ]))])
        case .state(let stream, let state):
            message = object([("type", .string("STATE")), ("state", object([
                ("type", .string("STREAM")),
                ("stream", object([("stream_descriptor", descriptor(stream)), ("stream_state", state)])),
            ]))])
        case .records(let stream, let records):
            return records.compactMap { line(for: .record(stream: stream, data: $0), emittedAt: emittedAt) }.joined(separator: "\n")
        case .page, .cutShort: return nil
        }
        return JSONBody.encode(message)
    }

    /// The STREAM_STATUS trace of `stream`.
    static func statusMessage(stream: String, status value: String, reasons: [PyValue] = [], emittedAt: Int64) -> PyValue {
        var descriptor = PyDict()
        descriptor["name"] = .string(stream)
        var status = PyDict()
        status["stream_descriptor"] = .dict(descriptor)
        status["status"] = .string(value)
        if !reasons.isEmpty { status["reasons"] = .list(reasons) }
        var trace = PyDict()
        trace["type"] = .string("STREAM_STATUS")
        trace["emitted_at"] = .int(Int(emittedAt))
        trace["stream_status"] = .dict(status)
        var message = PyDict()
        message["type"] = .string("TRACE")
        message["trace"] = .dict(trace)
        return .dict(message)
    }

    /// What the CDK reports for a catalog stream its source does not have with this config (a
    /// `ConditionalStreams` condition that is false): the stream INCOMPLETE, and no error.
    public static func unavailableLine(stream: String, emittedAt: Int64) -> String {
        JSONBody.encode(statusMessage(stream: stream, status: "INCOMPLETE", emittedAt: emittedAt))
    }

    /// An ERROR trace that belongs to no stream: the source failed before reading any.
    public static func errorLine(_ message: String, emittedAt: Int64) -> String {
        var error = PyDict()
        error["message"] = .string(message)
        error["failure_type"] = .string("system_error")
        var trace = PyDict()
        trace["type"] = .string("ERROR")
        trace["emitted_at"] = .int(Int(emittedAt))
        trace["error"] = .dict(error)
        var message = PyDict()
        message["type"] = .string("TRACE")
        message["trace"] = .dict(trace)
        return JSONBody.encode(.dict(message))
    }

    /// The per-stream states of an Airbyte state file (a list of STREAM state messages).
    public static func streamStates(_ value: PyValue) -> [String: PyValue] {
        var states: [String: PyValue] = [:]
        let items: [PyValue]
        if case .list(let list) = value { items = list } else { items = [value] }
        for case .dict(let message) in items {
            guard case .dict(let stream)? = message["stream"], case .dict(let descriptor)? = stream["stream_descriptor"],
                  case .string(let name)? = descriptor["name"] else { continue }
            states[name] = stream["stream_state"] ?? PyValue.none
        }
        return states
    }

    /// Stream names and sync modes of a configured catalog.
    public static func catalogStreams(_ value: PyValue) -> [(name: String, incremental: Bool)] {
        guard case .dict(let catalog) = value, case .list(let streams)? = catalog["streams"] else { return [] }
        return streams.compactMap { item in
            guard case .dict(let configured) = item, case .dict(let stream)? = configured["stream"],
                  case .string(let name)? = stream["name"] else { return nil }
            return (name, configured["sync_mode"] == .string("incremental"))
        }
    }
}
