import Foundation
import FuzzDriver
import HubAPI
import Hummingbird
import NIOCore

// libFuzzer target: the query string of `GET /v1/records` and of every other list endpoint,
// parsed from a request as the router hands it over: Hummingbird's URI and query splitting,
// then the records parameters (UUID, limit, opaque cursor, RFC 3339 time, flags, filters) and
// the list pages (limit, cursor of each list kind, and the `(time, id)` keys inside them).

private let kinds = ["connections", "syncs", "tenants", "jobs", "connectors", "webhook-events"]

@main
enum Main {
    static func main() {
        exit(tributary_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv) { start, count in fuzz(start, count) })
    }
}

/// One input; libFuzzer calls this millions of times (the symbol is the one libFuzzer links against).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    let query = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
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
    return 0
}
