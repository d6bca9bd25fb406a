import HubConnectors

/// One line of an Airbyte source's standard output, checked: the message types and the fields
/// Tributary acts on. A line that is not one of these is a protocol violation, never skipped.
public enum AirbyteMessage: Sendable, Equatable {
    case record(stream: String, data: PyValue)
    case state(AirbyteState)
    case log(level: String, message: String)
    /// `TRACE` `ERROR`: what failed, the stream when the source names one, and its
    /// `failure_type` (`config_error` is one only the user can fix).
    case error(message: String, stream: String?, failureType: String?)
    /// `TRACE` `STREAM_STATUS`: STARTED, RUNNING, COMPLETE or INCOMPLETE.
    case streamStatus(stream: String, status: String)
    /// Other traces (estimates, analytics): nothing to act on.
    case otherTrace(type: String)
    /// `CONTROL` `CONNECTOR_CONFIG`: the source rotated part of its config (an OAuth token).
    case configUpdate(PyValue)
    case spec(PyValue)
    case catalog(PyValue)
    case connectionStatus(succeeded: Bool, message: String?)

    /// The states of the protocol: one stream's, a global one, or the legacy whole-source blob.
    public enum AirbyteState: Sendable, Equatable {
        case stream(name: String, state: PyValue)
        case global(PyValue)
        case legacy(PyValue)
    }

    /// Parses one line; the error names the line and what is wrong, never the line's content
    /// (a source printing its config must not put the config into our logs or errors).
    public init(line: [UInt8], number: Int) throws {
        func violation(_ reason: String) -> ProtocolViolation { ProtocolViolation(line: number, bytes: line.count, reason: reason) }
        let value: PyValue
        do {
            value = try PyValue.parseJSON(line)
        } catch {
            throw violation("is not JSON")
        }
        guard case .dict(let message) = value else { throw violation("is not a JSON object") }
        guard case .string(let type)? = message["type"] else { throw violation("has no type") }
        func object(_ key: String) throws -> PyDict {
            guard case .dict(let inner)? = message[key] else { throw violation("is a \(type) message without its \(key) object") }
            return inner
        }
        func string(_ dict: PyDict, _ key: String, in what: String) throws -> String {
            guard case .string(let text)? = dict[key] else { throw violation("is a \(what) without a string \(key)") }
            return text
        }
        switch type {
        case "RECORD":
            let record = try object("record")
            guard case .dict? = record["data"] else { throw violation("is a RECORD whose data is not an object") }
            self = .record(stream: try string(record, "stream", in: "RECORD"), data: record["data"]!)
        case "STATE":
            let state = try object("state")
            switch state["type"] {
            case .string("STREAM")?:
                guard case .dict(let stream)? = state["stream"], case .dict(let descriptor)? = stream["stream_descriptor"] else {
                    throw violation("is a STREAM state without its stream_descriptor")
                }
                self = .state(.stream(name: try string(descriptor, "name", in: "stream_descriptor"), state: stream["stream_state"] ?? .none))
            case .string("GLOBAL")?:
                guard let global = state["global"] else { throw violation("is a GLOBAL state without its global object") }
                self = .state(.global(global))
            case .string("LEGACY")?, nil:
                self = .state(.legacy(state["data"] ?? .none))
            case .some:
                throw violation("is a STATE of unknown type")
            }
        case "LOG":
            let log = try object("log")
            self = .log(level: (try? string(log, "level", in: "LOG")) ?? "INFO", message: try string(log, "message", in: "LOG"))
        case "TRACE":
            let trace = try object("trace")
            let traceType = try string(trace, "type", in: "TRACE")
            switch traceType {
            case "ERROR":
                guard case .dict(let error)? = trace["error"] else { throw violation("is an ERROR trace without its error object") }
                var stream: String?
                if case .dict(let descriptor)? = error["stream_descriptor"], case .string(let name)? = descriptor["name"] { stream = name }
                var failureType: String?
                if case .string(let type)? = error["failure_type"] { failureType = type }
                self = .error(message: (try? string(error, "message", in: "ERROR trace")) ?? "the source reported an error without a message",
                              stream: stream, failureType: failureType)
            case "STREAM_STATUS":
                guard case .dict(let status)? = trace["stream_status"], case .dict(let descriptor)? = status["stream_descriptor"] else {
                    throw violation("is a STREAM_STATUS trace without its stream_descriptor")
                }
                self = .streamStatus(stream: try string(descriptor, "name", in: "stream_descriptor"),
                                     status: try string(status, "status", in: "STREAM_STATUS trace"))
            default:
                self = .otherTrace(type: traceType)
            }
        case "CONTROL":
            let control = try object("control")
            guard case .dict(let update)? = control["connectorConfig"], case .dict? = update["config"] else {
                throw violation("is a CONTROL message without connectorConfig.config")
            }
            self = .configUpdate(update["config"]!)
        case "SPEC":
            self = .spec(.dict(try object("spec")))
        case "CATALOG":
            self = .catalog(.dict(try object("catalog")))
        case "CONNECTION_STATUS":
            let status = try object("connectionStatus")
            let outcome = try string(status, "status", in: "CONNECTION_STATUS")
            var text: String?
            if case .string(let message)? = status["message"] { text = message }
            self = .connectionStatus(succeeded: outcome == "SUCCEEDED", message: text)
        default:
            throw violation("is of unknown type \(type.prefix(40).debugDescription)")
        }
    }
}

/// A line of a source's output that breaks the Airbyte protocol.
public struct ProtocolViolation: Error, Sendable, CustomStringConvertible {
    public let line: Int
    public let bytes: Int
    public let reason: String

    public var description: String {
        "line \(line) of the source's output (\(bytes) bytes) \(reason); an Airbyte source writes one protocol message per line"
    }
}

extension AirbyteMessage {
    /// The message as one protocol line again (what `tributary connectors read` prints).
    public func line(emittedAt: Int64) -> String {
        func dict(_ pairs: [(String, PyValue)]) -> PyValue {
            var result = PyDict()
            for (key, value) in pairs { result[key] = value }
            return .dict(result)
        }
        func descriptor(_ name: String) -> PyValue { dict([("name", .string(name))]) }
        let emitted = PyValue.int(Int(emittedAt))
        let message: PyValue
        switch self {
        case .record(let stream, let data):
            message = dict([("type", .string("RECORD")), ("record", dict([("stream", .string(stream)), ("data", data), ("emitted_at", emitted)]))])
        case .state(.stream(let name, let state)):
            message = dict([("type", .string("STATE")), ("state", dict([("type", .string("STREAM")), ("stream", dict([
                ("stream_descriptor", descriptor(name)), ("stream_state", state)]))]))])
        case .state(.global(let global)):
            message = dict([("type", .string("STATE")), ("state", dict([("type", .string("GLOBAL")), ("global", global)]))])
        case .state(.legacy(let data)):
            message = dict([("type", .string("STATE")), ("state", dict([("type", .string("LEGACY")), ("data", data)]))])
        case .log(let level, let text):
            message = dict([("type", .string("LOG")), ("log", dict([("level", .string(level)), ("message", .string(text))]))])
        case .error(let text, let stream, let failureType):
            var error: [(String, PyValue)] = [("message", .string(text))]
            if let stream { error.append(("stream_descriptor", descriptor(stream))) }
            if let failureType { error.append(("failure_type", .string(failureType))) }
            message = dict([("type", .string("TRACE")), ("trace", dict([("type", .string("ERROR")), ("emitted_at", emitted), ("error", dict(error))]))])
        case .streamStatus(let stream, let status):
            message = dict([("type", .string("TRACE")), ("trace", dict([("type", .string("STREAM_STATUS")), ("emitted_at", emitted), ("stream_status", dict([
                ("stream_descriptor", descriptor(stream)), ("status", .string(status))]))]))])
        case .otherTrace(let type):
            message = dict([("type", .string("TRACE")), ("trace", dict([("type", .string(type)), ("emitted_at", emitted)]))])
        case .configUpdate:
            // The new config holds credentials: it is stored sealed, never printed.
            message = dict([("type", .string("CONTROL")), ("control", dict([("type", .string("CONNECTOR_CONFIG")), ("emitted_at", emitted),
                                                                   ("connectorConfig", dict([("config", .string("(sealed, not shown)"))]))]))])
        case .spec(let spec):
            message = dict([("type", .string("SPEC")), ("spec", spec)])
        case .catalog(let catalog):
            message = dict([("type", .string("CATALOG")), ("catalog", catalog)])
        case .connectionStatus(let succeeded, let text):
            var status: [(String, PyValue)] = [("status", .string(succeeded ? "SUCCEEDED" : "FAILED"))]
            if let text { status.append(("message", .string(text))) }
            message = dict([("type", .string("CONNECTION_STATUS")), ("connectionStatus", dict(status))])
        }
        return message.jsonText
    }
}
