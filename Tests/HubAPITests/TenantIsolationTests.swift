import Foundation
import HubCore
import HubCrypto
import HubStore
import NIOHTTP1
import Testing
import TributaryTestSupport

/// Every documented route, tried with another tenant's key holding every tenant scope: none
/// reveals or changes anything of tenant A. And every list pages with keyset cursors.
@Suite("Tenant isolation and list paging")
struct TenantIsolationTests {
    @Test("a key of tenant B reads and changes nothing of tenant A through any route")
    func everyRouteIsolated() async throws {
        let api = APIWorld()
        try await api.withWorld { world in
            let logger = TestDatabase.logger
            let tenantB = try await ConnectionStore(client: world.client, logger: logger).connection(world.connectionB).tenant
            let keyB = try await ApiKeyStore(client: world.client, logger: logger)
                .create(tenant: tenantB, name: "b-all", scopes: ApiScope.tenantScopes).key.revealed
            let document = try await api.get("\(world.baseURL)/openapi.json", key: nil)
            guard case .object(let paths)? = document.json["paths"] else { Issue.record("no paths"); return }
            let connectionA = world.connectionA.uuidString.lowercased()
            var tried = 0
            for (template, item) in paths.sorted(by: { $0.key < $1.key }) where template.hasPrefix("/v1/") && !template.hasPrefix("/v1/webhooks/") {
                for method in (item.objectValue ?? [:]).keys.sorted() {
                    let path = template.replacingOccurrences(of: "{id}", with: template.hasPrefix("/v1/jobs") ? "1" : connectionA)
                        .replacingOccurrences(of: "{name}", with: "crm")
                        .replacingOccurrences(of: "{model}", with: "person")
                    let query = template == "/v1/records" ? "?connection_id=\(connectionA)&stream=contacts&include_deleted=true" : ""
                    let body: String? = switch (method, template) {
                    case ("post", "/v1/connections"): #"{"connector": "crm", "config": {}}"#
                    case ("post", "/v1/tenants"): #"{"name": "intruder"}"#
                    case ("patch", _): #"{"status": "paused", "config": {"region": "stolen"}}"#
                    case ("put", _): #"{"weight": 100}"#
                    case ("post", _): "{}"
                    default: nil
                    }
                    let httpMethod: HTTPMethod = method == "post" ? .POST : method == "patch" ? .PATCH : method == "put" ? .PUT
                        : method == "delete" ? .DELETE : .GET
                    let reply = try await api.get(world.baseURL + path + query, key: keyB, method: httpMethod, body: body)
                    tried += 1
                    // A 404 may quote back the id the caller sent; anything else of A's must not appear.
                    var shown = reply.json.objectValue ?? [:]
                    if reply.status == 404 { shown["detail"] = nil }
                    let text = String(decoding: try JSONEncoder().encode(JSONValue.object(shown)), as: UTF8.self).lowercased()
                    #expect(!text.contains(connectionA), "\(method.uppercased()) \(template) showed tenant A's connection: \(text)")
                    #expect(!text.contains(world.tenantA.rawValue.uuidString.lowercased()), "\(method.uppercased()) \(template) showed tenant A")
                    if template.contains("{id}") || template == "/v1/records" {
                        #expect([403, 404].contains(reply.status), "\(method.uppercased()) \(template) answered \(reply.status) for tenant A's resource")
                    }
                    if template.hasPrefix("/v1/tenants") || template.hasPrefix("/v1/jobs") {
                        #expect(reply.status == 403, "\(method.uppercased()) \(template) is for operator keys only")
                    }
                }
            }
            #expect(tried >= 15)
            // Tenant A's connection is untouched: still active, config unchanged, records all there.
            let shown = try await api.get("\(world.baseURL)/v1/connections/\(connectionA)", key: world.readA)
            #expect(shown.status == 200)
            #expect(shown.json["status"] == .string("active"))
            #expect(shown.json["config"]?["region"] == nil)
            let records = try await api.get("\(world.baseURL)/v1/records?connection_id=\(connectionA)&stream=contacts", key: world.readA)
            #expect(records.json["data"]?.arrayValue?.count == 5)

            // Cursors are positions, not capabilities: every page re-applies the key's tenant and
            // connection, so a forged one (any sequence, any list's key) moves the start within
            // the caller's own data and nowhere else.
            func forged(_ plain: String) -> String {
                Data(plain.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            }
            let connectionB = world.connectionB.uuidString.lowercased()
            for cursor in [forged("v1:0"), forged("v1:-1"), forged("connections:0,\(connectionA)"), forged("v1:9223372036854775807")] {
                let stolen = try await api.get("\(world.baseURL)/v1/records?connection_id=\(connectionA)&stream=contacts&cursor=\(cursor)", key: keyB)
                #expect([400, 404].contains(stolen.status), "a forged cursor reached tenant A's records: \(stolen.status)")
                let own = try await api.get("\(world.baseURL)/v1/records?connection_id=\(connectionB)&stream=contacts&cursor=\(cursor)", key: keyB)
                let ids = own.json["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                #expect(own.status == 200 || own.status == 400, "\(own.json)")
                #expect(!String(decoding: try JSONEncoder().encode(own.json), as: UTF8.self).contains(connectionA), "\(ids)")
            }
            let connectionsPage = try await api.get("\(world.baseURL)/v1/connections?cursor=\(forged("connections:9999999999999999,ffffffff-ffff-ffff-ffff-ffffffffffff"))", key: keyB)
            #expect(!String(decoding: try JSONEncoder().encode(connectionsPage.json), as: UTF8.self).contains(connectionA))
        }
    }

    @Test("connections, connectors, tenants and jobs page with keyset cursors; bad cursors are 400s")
    func listsPage() async throws {
        let api = APIWorld()
        try await api.withWorld { world in
            let logger = TestDatabase.logger
            let connections = ConnectionStore(client: world.client, keyring: world.keyring, logger: logger)
            let version = try await ConnectorStore(client: world.client, logger: logger).definition(name: "crm").version
            var created: Set<String> = [world.connectionA.uuidString.lowercased()]
            for _ in 0..<6 {
                created.insert(try await connections.create(tenant: world.tenantA, connector: "crm", connectorVersion: version,
                                                            credentials: Secret([])).uuidString.lowercased())
            }
            for name in ["alpha", "beta", "gamma"] {
                _ = try await ConnectorStore(client: world.client, logger: logger)
                    .register(name: name, manifest: APIWorld.manifest, sidecar: APIWorld.sidecar)
            }
            for index in 0..<3 { _ = try await TenantStore(client: world.client, logger: logger).create(name: "extra \(index)") }

            func collect(_ path: String, key: String, field: String = "id") async throws -> [String] {
                var seen: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let separator = path.contains("?") ? "&" : "?"
                    let url = "\(world.baseURL)\(path)\(separator)limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let reply = try await api.get(url, key: key)
                    #expect(reply.status == 200, "\(url): \(reply.json)")
                    let items = reply.json["data"]?.arrayValue ?? []
                    #expect(items.count <= 2)
                    seen += items.compactMap { item in
                        if case .number(let n)? = item[field] { return String(Int(n)) }
                        return item[field]?.stringValue
                    }
                    cursor = reply.json["next_cursor"]?.stringValue
                    pages += 1
                } while cursor != nil && pages < 50
                return seen
            }
            let pagedConnections = try await collect("/v1/connections", key: world.readA)
            #expect(Set(pagedConnections) == created)
            #expect(pagedConnections.count == created.count, "no connection twice")
            let connectorNames = try await collect("/v1/connectors", key: world.readA, field: "name")
            #expect(connectorNames == ["alpha", "beta", "crm", "gamma"])
            let tenants = try await collect("/v1/tenants", key: world.admin)
            #expect(tenants.count == 5 && Set(tenants).count == 5)

            for path in ["/v1/connections", "/v1/connectors", "/v1/tenants", "/v1/jobs"] {
                let key = path == "/v1/tenants" || path == "/v1/jobs" ? world.admin : world.readA
                let bad = try await api.get("\(world.baseURL)\(path)?cursor=not-a-cursor", key: key)
                #expect(bad.status == 400, "\(path)")
                #expect(bad.json["errors"]?.arrayValue?.first?["field"] == .string("cursor"))
                // A cursor from another list is refused too.
                let foreign = ListCursorProbe.encode("x", kind: path == "/v1/connectors" ? "tenants" : "connectors")
                #expect(try await api.get("\(world.baseURL)\(path)?cursor=\(foreign)", key: key).status == 400, "\(path)")
            }
        }
    }
}

/// The cursor format, as a client could forge it (the API must still refuse a cursor of another list).
enum ListCursorProbe {
    static func encode(_ key: String, kind: String) -> String {
        Data("\(kind):\(key)".utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
