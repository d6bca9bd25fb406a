import Foundation
import HubCore
import Hummingbird
import Synchronization

/// What the sample APIs served: every request with the records it returned, so the demo (and
/// its test) can show that a second run fetched only what changed.
public final class SampleAPIRequestLog: Sendable {
    public struct Entry: Sendable {
        public let api: String
        public let method: String
        public let path: String
        public let query: String
        public let status: Int
        public let records: Int
        /// The stream the request read, when it read one.
        public let stream: String?
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    public var all: [Entry] { entries.withLock { $0 } }

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    /// Records served per api and stream.
    public func recordsServed() -> [String: [String: Int]] {
        var totals: [String: [String: Int]] = [:]
        for entry in all where entry.status == 200 {
            guard let stream = entry.stream else { continue }
            totals[entry.api, default: [:]][stream, default: 0] += entry.records
        }
        return totals
    }

    /// One JSON line per request, for the demo's data folder.
    public func jsonLines(run: Int) -> String {
        all.map { entry in
            JSONValue.object([
                "run": .number(Double(run)), "api": .string(entry.api), "method": .string(entry.method),
                "path": .string(entry.path), "query": .string(entry.query), "status": .number(Double(entry.status)),
                "records": .number(Double(entry.records)), "stream": entry.stream.map(JSONValue.string) ?? .null,
            ]).canonicalJSON + "\n"
        }.joined()
    }
}

/// Responses the sample APIs share.
enum SampleResponse {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: [(String, String)] = []) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in headers { fields[.init(name)!] = value }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: value.canonicalJSON)))
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: [(String, String)] = []) -> Response {
        json(.object(["error": .object(["code": .string(code), "message": .string(message)])]), status: status, headers: headers)
    }

    static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        return query
    }
}
