import HubAirbyteProcess
import HubConnectors

/// How a process connector's state is kept per stream, and given back to the source.
///
/// Tributary runs one stream per `read`, and keeps one state per stream. A source may report
/// its state three ways, and each is kept so it can be given back the same way:
/// - `STREAM`: the stream's own state, kept as it is (the engine's states look the same).
/// - `GLOBAL` (CDC-style sources): the shared state and this stream's entry of
///   `stream_states`. The next read gets a `GLOBAL` message with both. Each stream keeps its own
///   copy of the shared state, as if each stream had a connection of its own. A source reading
///   one stream only ever sees its own position.
/// - `LEGACY`: the whole-source blob. The next read gets the blob as its state file, which is
///   how the platform passes it to the sources that still write it.
///
/// `GLOBAL` and `LEGACY` states are kept under one reserved key. Only a stored value that is an
/// object with that one key is read back as such, so a stream state can't be taken for one
/// by chance.
enum ProcessStreamState {
    static let envelopeKey = "airbyte_state_message"

    /// What to store for `stream` when the source reports `state`, or nil when the message is
    /// about other streams only.
    static func stored(_ state: AirbyteMessage.AirbyteState, stream: String) -> PyValue? {
        switch state {
        case .stream(let name, let value):
            return name == stream ? value : nil
        case .global(let global):
            var kept = PyDict()
            kept["type"] = .string("GLOBAL")
            var inner = PyDict()
            if case .dict(let fields) = global {
                inner["shared_state"] = fields["shared_state"] ?? PyValue.none
                if case .list(let entries)? = fields["stream_states"] {
                    inner["stream_states"] = .list(entries.filter { Self.names(stream, $0) })
                } else {
                    inner["stream_states"] = .list([])
                }
            }
            kept["global"] = .dict(inner)
            return envelope(kept)
        case .legacy(let data):
            var kept = PyDict()
            kept["type"] = .string("LEGACY")
            kept["data"] = data
            return envelope(kept)
        }
    }

    /// The state file for a read of `stream` that resumes from `stored`: a list of state
    /// messages, or the legacy blob itself.
    static func input(_ stored: PyValue, stream: String) -> PyValue {
        if case .dict(let fields) = stored, fields.count == 1, case .dict(let message)? = fields[envelopeKey] {
            switch message["type"] {
            case .string("LEGACY")?:
                return message["data"] ?? .dict(PyDict())
            case .string("GLOBAL")?:
                return .list([.dict(message)])
            default:
                break
            }
        }
        var descriptor = PyDict()
        descriptor["name"] = .string(stream)
        var streamState = PyDict()
        streamState["stream_descriptor"] = .dict(descriptor)
        streamState["stream_state"] = stored
        var message = PyDict()
        message["type"] = .string("STREAM")
        message["stream"] = .dict(streamState)
        return .list([.dict(message)])
    }

    private static func envelope(_ message: PyDict) -> PyValue {
        var stored = PyDict()
        stored[envelopeKey] = .dict(message)
        return .dict(stored)
    }

    /// Whether a `stream_states` entry is the one of `stream`.
    private static func names(_ stream: String, _ entry: PyValue) -> Bool {
        guard case .dict(let fields) = entry, case .dict(let descriptor)? = fields["stream_descriptor"],
              case .string(let name)? = descriptor["name"] else { return false }
        return name == stream
    }
}
