@testable import HubConnectors
import TributaryTestSupport

/// The oracle's `normalize.py` in Swift: per stream the status sequence, sorted records,
/// state count and final state; errors; the sorted request log — byte for byte the same text.
enum ConformanceNormalizer {
    /// `rawQueries`: scripted cases log each request's query as sent, too.
    static func normalize(protocolLines: [String], requests: [FakeAPIServer.LoggedRequest], rawQueries: Bool = false) throws -> [String] {
        struct StreamSummary { var status: [PyValue] = []; var records: [String] = []; var states: [PyValue] = [] }
        var streams: [String: StreamSummary] = [:]
        var failed = false
        for line in protocolLines where line.hasPrefix("{") {
            let message = try PyValue.parseJSON(Array(line.utf8))
            guard case .dict(let dict) = message, case .string(let type)? = dict["type"] else { continue }
            switch type {
            case "RECORD":
                guard case .dict(let record)? = dict["record"], case .string(let stream)? = record["stream"] else { continue }
                streams[stream, default: .init()].records.append(canon(record["data"] ?? .none))
            case "STATE":
                guard case .dict(let state)? = dict["state"], case .dict(let stream)? = state["stream"],
                      case .dict(let descriptor)? = stream["stream_descriptor"], case .string(let name)? = descriptor["name"] else { continue }
                streams[name, default: .init()].states.append(stream["stream_state"] ?? .none)
            case "TRACE":
                guard case .dict(let trace)? = dict["trace"] else { continue }
                if trace["type"] == .string("STREAM_STATUS"), case .dict(let status)? = trace["stream_status"],
                   case .dict(let descriptor)? = status["stream_descriptor"], case .string(let name)? = descriptor["name"] {
                    streams[name, default: .init()].status.append(status["status"] ?? .none)
                } else if trace["type"] == .string("ERROR") {
                    failed = true
                }
            default: continue
            }
        }
        var output: [String] = []
        for name in streams.keys.sorted(by: pythonOrder) {
            let summary = streams[name]!
            output.append(canon(object([
                ("stream", .string(name)), ("STATUS", .list(summary.status)), ("n_records", .int(summary.records.count)),
                ("n_states", .int(summary.states.count)), ("final_state", summary.states.last ?? .none),
            ])))
            for record in summary.records.sorted(by: pythonOrder) {
                output.append("{\"stream\":\(jsonString(name)),\"RECORD\":\(record)}")
            }
        }
        // Whether any error was reported, not its wording (see normalize.py).
        if failed { output.append(canon(object([("ERRORS", .bool(true))]))) }
        let logged = requests.map { request -> String in
            var query = PyDict()
            for key in request.query.keys.sorted() where !(request.query[key] ?? "").isEmpty { query[key] = .string(request.query[key]!) }
            var fields: [(String, PyValue)] = [
                ("path", .string(request.path)), ("query", .dict(query)),
                ("auth", request.header("Authorization").map(PyValue.string) ?? .none),
                ("gc_version", request.header("GoCardless-Version").map(PyValue.string) ?? .none),
            ]
            if rawQueries { fields.append(("raw_query", .string(request.rawQuery))) }
            return canon(object(fields))
        }
        output += logged.sorted(by: pythonOrder).map { "{\"REQUEST\":\($0)}" }
        return output
    }

    static func pythonOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }

    static func object(_ pairs: [(String, PyValue)]) -> PyValue {
        var dict = PyDict()
        for (key, value) in pairs { dict[key] = value }
        return .dict(dict)
    }

    /// `json.dumps(sort_keys=True, separators=(",", ":"))` with ensure_ascii.
    static func canon(_ value: PyValue) -> String {
        switch value {
        case .dict(let dict):
            let keys = dict.keys.map { $0.text }.sorted(by: pythonOrder)
            return "{" + keys.map { jsonString($0) + ":" + canon(dict[$0] ?? .none) }.joined(separator: ",") + "}"
        case .list(let items), .tuple(let items): return "[" + items.map(canon).joined(separator: ",") + "]"
        case .string(let text): return jsonString(text)
        default: return value.jsonText
        }
    }


    /// Python's `json.dumps` of a string (ensure_ascii), as the engine spells it.
    static func jsonString(_ text: String) -> String { PyRepr.jsonString(text) }
}
