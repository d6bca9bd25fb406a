import Foundation
import HubCore
import Hummingbird

/// `/openapi.json` and `/docs`: the API's description, and a page rendering it with no
/// external assets (the page is built here from the same document).
struct DocsController: Sendable {
    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/openapi.json") { _, _ in try JSONResponse.make(OpenAPIDocument.document) }
        router.get("/docs") { _, _ in
            var fields = HTTPFields()
            fields[.contentType] = "text/html; charset=utf-8"
            return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(string: Self.page)))
        }
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static let page: String = {
        guard case .object(let paths)? = OpenAPIDocument.document["paths"] else { return "" }
        var rows = ""
        for path in paths.keys.sorted() {
            guard case .object(let operations)? = paths[path] else { continue }
            for method in operations.keys.sorted() {
                let operation = operations[method]
                let summary = operation?["summary"]?.stringValue ?? ""
                var parameters = ""
                if case .array(let items)? = operation?["parameters"] {
                    parameters = items.compactMap { item in
                        guard let name = item["name"]?.stringValue else { return nil }
                        let required = item["required"] == .bool(true) ? " (required)" : ""
                        return "<code>\(escape(name))</code>\(required) — \(escape(item["description"]?.stringValue ?? ""))"
                    }.joined(separator: "<br>")
                }
                var statuses = ""
                if case .object(let responses)? = operation?["responses"] {
                    statuses = responses.keys.sorted().map { "<code>\($0)</code>" }.joined(separator: " ")
                }
                rows += "<tr><td><b>\(method.uppercased())</b></td><td><code>\(escape(path))</code></td><td>\(escape(summary))<br><small>\(parameters)</small></td><td>\(statuses)</td></tr>\n"
            }
        }
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>Tributary API</title>
            <style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse;width:100%}
            td{border-top:1px solid #ddd;padding:.5rem;vertical-align:top}code{background:#f4f4f4;padding:0 .2rem}</style></head>
            <body><h1>Tributary API</h1><p>Authenticate with <code>Authorization: Bearer trb_…</code>. Errors are
            <code>application/problem+json</code> with a stable <code>code</code>. The machine-readable description is
            <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
            <table>\(rows)</table></body></html>
            """
    }()
}
