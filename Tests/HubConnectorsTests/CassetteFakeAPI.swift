import Foundation
import Synchronization
import HubConnectors
import TributaryTestSupport

/// Replays the exchanges generic_server.py recorded while the CDK ran a case: the same request
/// (method, path, query, body) gets the same response, or, where the cassette holds several for
/// it (a scripted 429 then a page), the n-th repeat gets the n-th, the last one repeating; a
/// request the CDK never made gets a 404, which then shows in the comparison.
enum CassetteFakeAPI {
    static func key(method: String, path: String, query: PyValue, body: PyValue) -> String {
        ConformanceNormalizer.canon(ConformanceNormalizer.object([
            ("method", .string(method)), ("path", .string(path)), ("query", query), ("body", body),
        ]))
    }

    static func makeServer(cassette: Data, port: @escaping @Sendable () -> Int) throws -> FakeAPIServer {
        guard case .list(let entries) = try PyValue.parseJSON(Array(cassette)) else {
            throw CassetteError(message: "the cassette is not a list")
        }
        var table: [String: [PyValue]] = [:]
        for case .dict(let entry) in entries {
            guard case .dict(let request)? = entry["request"], let response = entry["response"] else { continue }
            table[key(method: request["method"]?.text ?? "", path: request["path"]?.text ?? "",
                      query: request["query"] ?? .dict(PyDict()), body: request["body"] ?? .dict(PyDict())), default: []].append(response)
        }
        let replay = table
        let turns = Mutex<[String: Int]>([:])
        return FakeAPIServer { request in
            var query = PyDict()
            for name in request.query.keys.sorted() where !(request.query[name] ?? "").isEmpty {
                query[name] = .string(request.query[name]!)
            }
            let body = requestBody(request.body)
            let requestKey = key(method: request.method, path: request.path, query: .dict(query), body: body)
            guard let answers = replay[requestKey], !answers.isEmpty else {
                return .json(#"{"error":"not in the cassette"}"#, status: 404)
            }
            let turn = turns.withLock { turns in
                defer { turns[requestKey, default: 0] += 1 }
                return turns[requestKey, default: 0]
            }
            guard case .dict(let response) = answers[min(turn, answers.count - 1)] else {
                return .json(#"{"error":"the cassette's response is not an object"}"#, status: 500)
            }
            // Links the recorder wrote point at its own port; point them at this server.
            let fix: (String) -> String = { $0.replacingOccurrences(of: "127.0.0.1:18731", with: "127.0.0.1:\(port())") }
            var headers: [(String, String)] = []
            if case .dict(let recorded)? = response["headers"] {
                headers = recorded.entries.map { ($0.key.text, fix($0.value.text)) }
            }
            let status = response["status"].flatMap { if case .int(let code) = $0 { return code } else { return nil } } ?? 200
            // A body that was not JSON text (gzip, say) was recorded as base64.
            if case .string(let encoded)? = response["body_base64"], let bytes = Data(base64Encoded: encoded) {
                return .init(status: status, body: Array(bytes), headers: headers)
            }
            return .init(status: status, body: Array(fix(response["body"]?.text ?? "").utf8), headers: headers)
        }
    }

    /// The request body as the recorder parsed it: JSON, else form fields, else empty.
    static func requestBody(_ bytes: [UInt8]) -> PyValue {
        guard !bytes.isEmpty else { return .dict(PyDict()) }
        if let parsed = try? PyValue.parseJSON(bytes) { return parsed }
        var form = PyDict()
        for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode: (Substring) -> String = { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            // A repeated key keeps its first value, as the recorder's `parse_qs(...)[key][0]` does.
            if parts.count == 2, !parts[1].isEmpty, form[decode(parts[0])] == nil { form[decode(parts[0])] = .string(decode(parts[1])) }
        }
        return .dict(form)
    }


    struct CassetteError: Error { let message: String }
}
