import FuzzSupport
import HubAPI
import HubCore
import Hummingbird
import NIOCore

// libFuzzer target: the query string of `GET /v1/records` and of every other list endpoint,
// parsed from a request as the router hands it over: Hummingbird's URI and query splitting,
// then the records parameters (UUID, limit, opaque cursor, RFC 3339 time, flags, filters) and
// the list pages (limit, cursor of each list kind, and the `(time, id)` keys inside them).

private let kinds = ["connections", "syncs", "tenants", "jobs", "connectors", "webhook-events"]

@main
enum Main {
    static func main() { Fuzzer.run(fuzz) }
}

func fuzz(_ input: [UInt8]) {
    let query = String(decoding: input, as: UTF8.self)
    let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/v1/records?" + query),
                          body: RequestBody(buffer: ByteBuffer()))
    _ = try? RecordListRequest.parse(request)
    for kind in kinds {
        var errors: [String: String] = [:]
        let page = PageRequest.parse(request, kind: kind, errors: &errors)
        _ = ListCursor.timeKey(page.after)
    }
    // Cursors are opaque to clients, so whatever key the server wraps must come back unchanged.
    let key = String(query.prefix(64))
    if ListCursor.decode(ListCursor.encode(key, kind: "jobs"), kind: "jobs") != key {
        fatalError("a list cursor did not round-trip: \(key.debugDescription)")
    }
}
