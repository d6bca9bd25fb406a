import HubConnectors

/// One line of an Airbyte source's standard output, checked: the message types and the fields
/// Tributary acts on. A line that is not one of these is a protocol violation, never skipped.
public enum AirbyteMessage: Sendable, Equatable {
    case record(stream: String, data: PyValue)
    case state(AirbyteState)
    case log(level: String, message: String)
    /// `TRACE` `ERROR`: what failed, and the stream when the source names one.
    case error(message: String, stream: String?)
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
                self = .error(message: (try? string(error, "message", in: "ERROR trace")) ?? "the source reported an error without a message",
                              stream: stream)
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
