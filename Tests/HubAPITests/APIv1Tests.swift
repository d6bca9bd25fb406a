import AsyncHTTPClient
import Foundation
import HubAPI
import HubConnectors
import HubCore
import HubCrypto
import HubQueue
import HubStore
import HubSync
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Testing
import TributaryTestSupport

/// The `/v1` routes through real HTTP against a real database.
@Suite("REST API v1")
struct APIv1Tests {
    let api = APIWorld()

    @Test("keys are required, checked, and scoped to their tenant")
    func authentication() async throws {
        try await api.withWorld { world in
            let path = "\(world.baseURL)/v1/records?connection_id=\(world.connectionA)&stream=contacts"
            let anonymous = try await api.get(path, key: nil, headers: ["X-Request-Id": "req-123"])
            #expect(anonymous.status == 401)
            #expect(anonymous.headers["content-type"] == "application/problem+json")
            #expect(anonymous.json["code"] == .string("unauthorized"))
            #expect(anonymous.headers["x-request-id"] == "req-123")
            #expect(anonymous.json["request_id"] == .string("req-123"))
            #expect(try await api.get(path, key: world.revokedA).status == 401)
            #expect(try await api.get(path, key: "trb_000000000000_" + String(repeating: "0", count: 64)).status == 401)
            // Tenant B's key sees nothing of tenant A: the connection does not exist for it.
            let other = try await api.get(path, key: world.readB)
            #expect(other.status == 404)
            #expect(other.json["code"] == .string("not_found"))
            #expect(try await api.get(path, key: world.readA).status == 200)
        }
    }

    @Test("sensitive fields are masked without the scope, revealed and audited with it")
    func sensitiveFields() async throws {
        try await api.withWorld { world in
            let path = "\(world.baseURL)/v1/records?connection_id=\(world.connectionA)&stream=contacts"
            let masked = try await api.get(path, key: world.readA)
            guard case .array(let items) = masked.json["data"] else { Issue.record("no data: \(masked.json)"); return }
            #expect(items.count == 5)
            #expect(items.allSatisfy { $0["data"]?["email"] == .string("***") && $0["data"]?["phone"] == .string("***") })
            #expect(items.first?["data"]?["name"] == .string("Contact 1"))
            let auditBefore = try await count(world.vault, "SELECT count(*)::int FROM audit_log WHERE tenant_id = \(world.tenantA.rawValue)")
            #expect(auditBefore == 0)

            let revealed = try await api.get(path, key: world.sensitiveA)
            guard case .array(let clear) = revealed.json["data"] else { Issue.record("no data"); return }
            #expect(clear.first?["data"]?["email"] == .string("Person1@Example.com"))
            let auditAfter = try await count(world.vault, "SELECT count(*)::int FROM audit_log WHERE tenant_id = \(world.tenantA.rawValue)")
            #expect(auditAfter == 5)
        }
    }

    @Test("blind-index filter, keyset pagination, and every bad parameter named")
    func filteringAndPaging() async throws {
        try await api.withWorld { world in
            let base = "\(world.baseURL)/v1/records?connection_id=\(world.connectionA)&stream=contacts"
            let found = try await api.get(base + "&email=%20person3@EXAMPLE.com", key: world.readA)
            guard case .array(let matches) = found.json["data"] else { Issue.record("no data"); return }
            #expect(matches.map { $0["id"] } == [.string("c3")])

            var seen: [JSONValue] = []
            var cursor: String?
            for _ in 0..<10 {
                let page = try await api.get(base + "&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), key: world.readA)
                guard case .array(let items) = page.json["data"] else { break }
                seen += items.compactMap { $0["id"] }
                guard case .string(let next)? = page.json["next_cursor"] else { break }
                cursor = next
            }
            #expect(seen == (1...5).map { .string("c\($0)") })

            let bad = try await api.get("\(world.baseURL)/v1/records?stream=&limit=0&cursor=junk", key: world.readA)
            #expect(bad.status == 400)
            guard case .array(let errors) = bad.json["errors"] else { Issue.record("no errors: \(bad.json)"); return }
            #expect(Set(errors.compactMap { $0["field"]?.stringValue }) == ["connection_id", "stream", "limit", "cursor"])
            let unknown = try await api.get(base + "&colour=red", key: world.readA)
            #expect(unknown.status == 400)
        }
    }

    @Test("connections: listed and shown without credentials, syncs started and listed, other tenants see nothing")
    func connections() async throws {
        try await api.withWorld { world in
            let list = try await api.get("\(world.baseURL)/v1/connections", key: world.readA)
            guard case .array(let items) = list.json["data"] else { Issue.record("no data: \(list.json)"); return }
            #expect(items.map { $0["id"] } == [.string(world.connectionA.uuidString.lowercased())])
            #expect(list.json["next_cursor"] == .null)

            let shown = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)", key: world.readA)
            #expect(shown.status == 200)
            #expect(shown.json["connector"] == .string("crm"))
            #expect(shown.json["credentials"] == nil)
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(world.connectionB)", key: world.readA).status == 404)
            #expect(try await api.get("\(world.baseURL)/v1/connections/not-a-uuid", key: world.readA).status == 400)

            // Starting a sync needs connections:write.
            let denied = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)/syncs", key: world.readA, method: .POST, body: "{}")
            #expect(denied.status == 403)
            let started = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)/syncs", key: world.writeA, method: .POST,
                                        body: #"{"stream": "contacts", "full_refresh": true}"#)
            #expect(started.status == 202, "\(started.json)")
            guard case .array(let jobs) = started.json["data"] else { Issue.record("no data: \(started.json)"); return }
            #expect(jobs.first?["stream"] == .string("contacts"))
            let bad = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)/syncs", key: world.writeA, method: .POST,
                                    body: #"{"stream": 7, "extra": true}"#)
            #expect(bad.status == 400)
            let unknownStream = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)/syncs", key: world.writeA, method: .POST,
                                              body: #"{"stream": "nope"}"#)
            #expect(unknownStream.status == 400)
            let otherTenant = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionB)/syncs", key: world.writeA, method: .POST, body: "{}")
            #expect(otherTenant.status == 404)

            let runs = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)/syncs", key: world.readA)
            guard case .array(let history) = runs.json["data"] else { Issue.record("no data: \(runs.json)"); return }
            #expect(history.count == 1)
            #expect(history.first?["status"] == .string("queued"))
            #expect(history.first?["full_refresh"] == .bool(true))
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(world.connectionB)/syncs", key: world.readA).status == 404)
        }
    }

    @Test("connectors: listed, shown, a new version registered only when the engine accepts it")
    func connectors() async throws {
        try await api.withWorld { world in
            let list = try await api.get("\(world.baseURL)/v1/connectors", key: world.readA)
            #expect(list.json["data"]?.arrayCount == 1)
            let shown = try await api.get("\(world.baseURL)/v1/connectors/crm", key: world.readA)
            #expect(shown.json["runtime"] == .string("engine"))
            #expect(shown.json["streams"]?.firstElement?["sensitive"] == .array([.string("email"), .string("phone")]))
            #expect(try await api.get("\(world.baseURL)/v1/connectors/nope", key: world.readA).status == 404)

            let body = { (manifest: String) in
                String(decoding: try JSONEncoder().encode(JSONValue.object(["name": .string("crm"), "manifest": .string(manifest),
                                                                            "sidecar": .string(APIWorld.sidecar)])), as: UTF8.self)
            }
            #expect(try await api.get("\(world.baseURL)/v1/connectors", key: world.readA, method: .POST, body: try body(APIWorld.manifest)).status == 403)
            let same = try await api.get("\(world.baseURL)/v1/connectors", key: world.connectorsWriter, method: .POST, body: try body(APIWorld.manifest))
            #expect(same.status == 200)
            #expect(same.json["created"] == .bool(false))
            let broken = APIWorld.manifest.replacingOccurrences(of: "type: DpathExtractor", with: "type: CustomRecordExtractor")
            let refused = try await api.get("\(world.baseURL)/v1/connectors", key: world.connectorsWriter, method: .POST, body: try body(broken))
            #expect(refused.status == 422)
            #expect(refused.json["detail"]?.stringValue?.contains("CustomRecordExtractor") == true, "\(refused.json)")
            #expect(refused.json["detail"]?.stringValue?.contains("can run as a process connector instead: hub.yaml runtime.pypi") == true, "\(refused.json)")
            let changed = APIWorld.manifest.replacingOccurrences(of: "path: /contacts", with: "path: /v2/contacts")
            let created = try await api.get("\(world.baseURL)/v1/connectors", key: world.connectorsWriter, method: .POST, body: try body(changed))
            #expect(created.status == 201)
            #expect(created.json["version"] == .number(2))

            // A process connector comes with its source's spec: without one, which fields are
            // secrets would be unknown, and they would be stored in clear.
            let process = String(decoding: try JSONEncoder().encode(JSONValue.object([
                "name": .string("faker"), "manifest": .string(""),
                "sidecar": .string("runtime: {pypi: airbyte-source-faker==7.2.1}\nstreams: {users: {primary_key: [id]}}"),
            ])), as: UTF8.self)
            let noSpec = try await api.get("\(world.baseURL)/v1/connectors", key: world.connectorsWriter, method: .POST, body: process)
            #expect(noSpec.status == 422)
            #expect(noSpec.json["detail"]?.stringValue?.contains("registered with its source's spec") == true, "\(noSpec.json)")
        }
    }

    @Test("only an operator publishes connectors; a new version changes no connection until its tenant upgrades it")
    func publishingIsAnOperatorRight() async throws {
        try await api.withWorld { world in
            let keys = ApiKeyStore(client: world.client, logger: TestDatabase.logger)
            // A tenant key can't be given the scope, by the store or by SQL around it.
            await #expect(throws: HubError.self) {
                _ = try await keys.create(tenant: world.tenantA, name: "author", scopes: [.recordsRead, .connectorsWrite])
            }
            await #expect(throws: HubError.self) { _ = try await keys.create(tenant: nil, name: "mixed", scopes: [.admin, .recordsRead]) }
            await #expect(throws: (any Error).self) {
                try await world.client.query("""
                    INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, scopes)
                    VALUES (\(UUID()), \(world.tenantA.rawValue), 'aaaaaaaaaaaa', '\\x00'::bytea, ARRAY['connectors:write'])
                    """, logger: TestDatabase.logger)
            }
            let hostile = APIWorld.manifest.replacingOccurrences(of: "https://crm.example.com", with: "https://attacker.example.net")
            let body = { (manifest: String, sidecar: String) in
                String(decoding: try JSONEncoder().encode(JSONValue.object(["name": .string("crm"), "manifest": .string(manifest),
                                                                            "sidecar": .string(sidecar)])), as: UTF8.self)
            }
            // Every tenant key, whatever its scopes, is refused: sending another tenant's
            // credentials elsewhere, or storing its emails in clear, is the attack.
            for key in [world.writeA, world.readA, world.sensitiveA] {
                let refused = try await api.get("\(world.baseURL)/v1/connectors", key: key, method: .POST, body: try body(hostile, "credentials: [api_key]"))
                #expect(refused.status == 403, "\(refused.json)")
            }
            #expect(try await api.get("\(world.baseURL)/v1/connectors", key: world.admin, method: .POST, body: try body(hostile, APIWorld.sidecar)).status == 403)
            #expect(try await ConnectorStore(client: world.client, logger: TestDatabase.logger).definition(name: "crm").version == 1)

            // An operator's new version is published, and no existing connection moves to it.
            let published = try await api.get("\(world.baseURL)/v1/connectors", key: world.connectorsWriter, method: .POST,
                                          body: try body(APIWorld.manifest.replacingOccurrences(of: "path: /contacts", with: "path: /v2/contacts"), APIWorld.sidecar))
            #expect(published.status == 201)
            #expect(published.json["version"] == .number(2))
            for connection in [world.connectionA, world.connectionB] {
                let key = connection == world.connectionA ? world.readA : world.readB
                #expect(try await api.get("\(world.baseURL)/v1/connections/\(connection)", key: key).json["connector_version"] == .number(1))
            }
            // The tenant upgrades its own connection on purpose; the other tenant's stays.
            let missing = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)", key: world.writeA, method: .PATCH,
                                        body: #"{"connector_version": 7}"#)
            #expect(missing.status == 404, "\(missing.json)")
            let upgraded = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)", key: world.writeA, method: .PATCH,
                                         body: #"{"connector_version": 2}"#)
            #expect(upgraded.status == 200, "\(upgraded.json)")
            #expect(upgraded.json["connector_version"] == .number(2))
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(world.connectionB)", key: world.readB).json["connector_version"] == .number(1))
            let foreign = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionB)", key: world.writeA, method: .PATCH,
                                        body: #"{"connector_version": 2}"#)
            #expect(foreign.status == 404)
        }
    }

    @Test("tenants are managed by operator keys only")
    func tenants() async throws {
        try await api.withWorld { world in
            #expect(try await api.get("\(world.baseURL)/v1/tenants", key: world.readA).status == 403)
            let created = try await api.get("\(world.baseURL)/v1/tenants", key: world.admin, method: .POST, body: #"{"name": "Globex"}"#)
            #expect(created.status == 201)
            let list = try await api.get("\(world.baseURL)/v1/tenants", key: world.admin)
            #expect(list.json["data"]?.arrayCount == 3)
            // An operator key reads no tenant's records.
            #expect(try await api.get("\(world.baseURL)/v1/records?connection_id=\(world.connectionA)&stream=contacts", key: world.admin).status == 403)
            // Past the API's body limit (4 MiB): 413, whatever the route, before anything is parsed.
            let huge = #"{"name": ""# + String(repeating: "x", count: 5 << 20) + #""}"#
            let tooLarge = try await api.get("\(world.baseURL)/v1/tenants", key: world.admin, method: .POST, body: huge)
            #expect(tooLarge.status == 413)
            #expect(tooLarge.json["code"] == .string("payload_too_large"))
            let notObject = try await api.get("\(world.baseURL)/v1/tenants", key: world.admin, method: .POST, body: "[1]")
            #expect(notObject.status == 400)
            #expect(notObject.json["errors"]?.arrayValue?.first?["field"] == .string("body"))
        }
    }

    static let personModel = """
        name: person
        schema:
          type: object
          properties:
            email: {type: string}
            full_name: {type: string}
        sensitive: [email]
        identity:
          email: email
        survivorship:
          full_name: {priority: [crm]}
        """

    @Test("models are published by operator keys only, read by any key, and checked before they are stored")
    func models() async throws {
        try await api.withWorld { world in
            func post(_ definition: String, key: String) async throws -> (status: Int, json: JSONValue) {
                let body = String(decoding: try JSONEncoder().encode(JSONValue.object(["definition": .string(definition)])), as: UTF8.self)
                let reply = try await api.get("\(world.baseURL)/v1/models", key: key, method: .POST, body: body)
                return (reply.status, reply.json)
            }
            // A tenant key with every tenant scope may not publish: a model decides what is sealed.
            #expect(try await post(Self.personModel, key: world.writeA).status == 403)
            let created = try await post(Self.personModel, key: world.connectorsWriter)
            #expect(created.status == 201, "\(created.json)")
            #expect(created.json["version"] == .number(1))
            let again = try await post(Self.personModel, key: world.connectorsWriter)
            #expect(again.status == 200 && again.json["created"] == .bool(false))
            // Every problem is named, nothing is stored.
            let bad = try await post("name: person\nschema: {type: object, properties: {email: {type: string}}}\nsensitive: [ssn]\n",
                                     key: world.connectorsWriter)
            #expect(bad.status == 422)
            #expect(bad.json["code"] == .string("invalid_model"))
            #expect(bad.json["detail"]?.stringValue?.contains("sensitive[0]") == true, "\(bad.json)")
            let listed = try await api.get("\(world.baseURL)/v1/models", key: world.readA)
            #expect(listed.status == 200)
            #expect(listed.json["data"]?.arrayValue?.map { $0["latest_version"] } == [.number(1)])
            let shown = try await api.get("\(world.baseURL)/v1/models/person", key: world.readA)
            #expect(shown.status == 200)
            let email = shown.json["fields"]?.arrayValue?.first { $0["name"] == .string("email") }
            #expect(email?["sensitive"] == .bool(true) && email?["identity"] == .string("email"))
            let fullName = shown.json["fields"]?.arrayValue?.first { $0["name"] == .string("full_name") }
            #expect(fullName?["survivorship"]?["priority"] == .array([.string("crm")]))
            #expect(try await api.get("\(world.baseURL)/v1/models/company", key: world.readA).status == 404)
            #expect(try await api.get("\(world.baseURL)/v1/models/Not%20A%20Name", key: world.readA).status == 400)

            // A connector mapping its stream into the model: checked against the registered model.
            func register(_ unified: String) async throws -> (status: Int, json: JSONValue) {
                let sidecar = APIWorld.sidecar + "\n    unified:\n      " + unified
                let body = String(decoding: try JSONEncoder().encode(JSONValue.object([
                    "name": .string("crm"), "manifest": .string(APIWorld.manifest), "sidecar": .string(sidecar)])), as: UTF8.self)
                let reply = try await api.get("\(world.baseURL)/v1/connectors", key: world.connectorsWriter, method: .POST, body: body)
                return (reply.status, reply.json)
            }
            let wrongField = try await register("person: {fullname: \"{{ record.name }}\"}")
            #expect(wrongField.status == 422)
            #expect(wrongField.json["detail"]?.stringValue?.contains("unified.person.fullname: model person has no field 'fullname'") == true, "\(wrongField.json)")
            let unknownModel = try await register("company: {name: \"{{ record.name }}\"}")
            #expect(unknownModel.status == 422)
            #expect(unknownModel.json["detail"]?.stringValue?.contains("no model named company is registered") == true, "\(unknownModel.json)")
            let mapped = try await register("person: {email: \"{{ record.email }}\", full_name: \"{{ record.name }}\"}")
            #expect(mapped.status == 201, "\(mapped.json)")
            let connector = try await api.get("\(world.baseURL)/v1/connectors/crm", key: world.readA)
            let contacts = connector.json["streams"]?.arrayValue?.first { $0["name"] == .string("contacts") }
            #expect(contacts?["unified"]?["person"] == .array([.string("email"), .string("full_name")]), "\(connector.json)")
        }
    }

    @Test("the unified API merges an entity's sources, filters on identity keys, reveals sensitive fields only to sensitive keys")
    func unified() async throws {
        try await api.withWorld { world in
            let body = String(decoding: try JSONEncoder().encode(JSONValue.object(["definition": .string(Self.personModel)])), as: UTF8.self)
            #expect(try await api.get("\(world.baseURL)/v1/models", key: world.connectorsWriter, method: .POST, body: body).status == 201)
            let logger = TestDatabase.logger
            let tenantB = try await ConnectionStore(client: world.client, logger: logger).connection(world.connectionB).tenant
            try await api.linkPerson(world, world.tenantA, world.connectionA, "c1", ["email": "Ada@X.com", "full_name": "Ada L"])
            try await api.linkPerson(world, world.tenantA, world.connectionA, "c2", ["email": "ada@x.com", "full_name": "Ada Lovelace"])
            try await api.linkPerson(world, world.tenantA, world.connectionA, "c3", ["email": "bob@y.com", "full_name": "Bob"])
            try await api.linkPerson(world, tenantB, world.connectionB, "c1", ["email": "ada@x.com", "full_name": "Someone Else"])

            let all = try await api.get("\(world.baseURL)/v1/unified/person", key: world.readA)
            #expect(all.status == 200, "\(all.json)")
            #expect(all.json["data"]?.arrayCount == 2)
            let found = try await api.get("\(world.baseURL)/v1/unified/person?email=%20ADA@x.com", key: world.readA)
            let ada = try #require(found.json["data"]?.firstElement)
            #expect(found.json["data"]?.arrayCount == 1)
            #expect(ada["sources"]?.arrayCount == 2)
            #expect(ada["fields"]?["full_name"] == .string("Ada Lovelace"), "the most recent source wins: \(ada)")
            #expect(ada["fields"]?["email"] == .string("***"), "masked without records:read-sensitive")
            #expect(try await api.get("\(world.baseURL)/v1/unified/person?email=nobody@z.com", key: world.readA).json["data"]?.arrayCount == 0)
            let notKey = try await api.get("\(world.baseURL)/v1/unified/person?full_name=Ada", key: world.readA)
            #expect(notKey.status == 400)
            guard case .string(let id)? = ada["id"] else { Issue.record("no id"); return }
            let revealed = try await api.get("\(world.baseURL)/v1/unified/person/\(id)", key: world.sensitiveA)
            #expect(revealed.json["fields"]?["email"]?.stringValue?.lowercased() == "ada@x.com", "\(revealed.json)")
            var audited = 0
            for try await count in try await world.vault.query(
                "SELECT count(*)::int FROM audit_log WHERE tenant_id = \(world.tenantA.rawValue)", logger: logger).decode(Int.self) { audited = count }
            #expect(audited >= 2, "each revealed source is audited")
            // Tenant B sees its own Ada only, and nothing of A's, even by A's id.
            #expect(try await api.get("\(world.baseURL)/v1/unified/person/\(id)", key: world.readB).status == 404)
            let theirs = try await api.get("\(world.baseURL)/v1/unified/person", key: world.readB)
            #expect(theirs.json["data"]?.arrayCount == 1)
            #expect(theirs.json["data"]?.firstElement?["fields"]?["full_name"] == .string("Someone Else"))
            // With include=raw, each source carries its stored record: the masked key reads its
            // plain fields, the sensitive key its sealed ones too.
            let raw = try await api.get("\(world.baseURL)/v1/unified/person/\(id)?include=raw", key: world.readA)
            let rawSource = try #require(raw.json["sources"]?.firstElement, "\(raw.json)")
            #expect(rawSource["record"]?["data"]?["name"] != nil, "\(rawSource)")
            #expect(rawSource["record"]?["sensitive"] == .null)
            let rawRevealed = try await api.get("\(world.baseURL)/v1/unified/person/\(id)?include=raw", key: world.sensitiveA)
            #expect(rawRevealed.json["sources"]?.firstElement?["record"]?["sensitive"]?["email"] != nil, "\(rawRevealed.json)")
            #expect(try await api.get("\(world.baseURL)/v1/unified/person/\(id)?include=everything", key: world.readA).status == 400)
            #expect(try await api.get("\(world.baseURL)/v1/unified/person/\(id)?page=2", key: world.readA).status == 400)

            // The change feed: both entities, then, after Bob's only source leaves, Bob as deleted.
            // A change shows once no older transaction runs (in any database of the cluster: the
            // suites share one), so the feed is polled until it does.
            func changes(_ query: String, count: Int) async throws -> APIWorld.Reply {
                var reply = try await api.get("\(world.baseURL)/v1/unified/person/changes\(query)", key: world.readA)
                let deadline = ContinuousClock.now + .seconds(20)
                while (reply.json["data"]?.arrayCount ?? 0) < count, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    reply = try await api.get("\(world.baseURL)/v1/unified/person/changes\(query)", key: world.readA)
                }
                return reply
            }
            let feed = try await changes("", count: 2)
            #expect(feed.json["data"]?.arrayValue?.map { $0["change"] } == [.string("updated"), .string("updated")], "\(feed.json)")
            let resume = try #require(feed.json["next_cursor"]?.stringValue)
            _ = try await world.client.withTransaction(logger: logger) { database in
                try await EntityStore(logger: logger).unlink(on: database, tenant: world.tenantA, connection: world.connectionA, stream: "contacts", externalIDs: ["c3"])
            }
            let later = try await changes("?cursor=\(resume)", count: 1)
            #expect(later.json["data"]?.arrayValue?.map { $0["change"] } == [.string("deleted")], "\(later.json)")
            #expect(later.json["has_more"] == .bool(false))
            let drained = try await api.get("\(world.baseURL)/v1/unified/person/changes?cursor=\(later.json["next_cursor"]?.stringValue ?? "")", key: world.readA)
            #expect(drained.json["data"]?.arrayCount == 0 && drained.json["next_cursor"] == later.json["next_cursor"], "\(drained.json)")
            #expect(try await api.get("\(world.baseURL)/v1/unified/person/changes", key: world.readB).json["data"]?.arrayCount == 1, "B's feed holds B's own")
            #expect(try await api.get("\(world.baseURL)/v1/unified/company", key: world.readA).status == 404)
            #expect(try await api.get("\(world.baseURL)/v1/unified/person", key: world.writeA).status == 403)
        }
    }

    @Test("a tenant's share of the sync workers is set by operator keys, bounded, and reaches the queue")
    func tenantQuota() async throws {
        try await api.withWorld { world in
            let url = "\(world.baseURL)/v1/tenants/\(world.tenantA)/quota"
            #expect(try await api.get(url, key: world.readA).status == 403)
            #expect(try await api.get(url, key: world.readA, method: .PUT, body: #"{"weight": 100}"#).status == 403)
            let initial = try await api.get(url, key: world.admin)
            #expect(initial.status == 200)
            #expect(initial.json["weight"] == .null && initial.json["effective"]?["weight"] == .number(1))
            #expect(initial.json["effective"]?["max_running"] == .null)
            let set = try await api.get(url, key: world.admin, method: .PUT, body: #"{"weight": 3, "max_running": 2}"#)
            #expect(set.status == 200, "\(set.json)")
            #expect(set.json["weight"] == .number(3) && set.json["max_running"] == .number(2))
            let stored = try await JobQueue(client: world.client, logger: TestDatabase.logger)
                .share(queue: SyncJobs.queue, key: world.tenantA.description)
            #expect(stored == QueueShare(weight: 3, maxRunning: 2))
            // Out of range, the wrong type, an unknown field: each named, nothing changed.
            let bad = try await api.get(url, key: world.admin, method: .PUT, body: #"{"weight": 0, "max_running": 1e300, "slots": 9}"#)
            #expect(bad.status == 400)
            let fields = Set(bad.json["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
            #expect(fields == ["weight", "max_running", "slots"])
            #expect(try await api.get(url, key: world.admin).json["weight"] == .number(3))
            // Null inherits the default again.
            let reset = try await api.get(url, key: world.admin, method: .PUT, body: #"{"weight": null}"#)
            #expect(reset.json["weight"] == .null && reset.json["max_running"] == .null)
            #expect(try await api.get("\(world.baseURL)/v1/tenants/\(UUID())/quota", key: world.admin).status == 404)
            #expect(try await api.get("\(world.baseURL)/v1/tenants/nope/quota", key: world.admin).status == 400)
        }
    }

    @Test("jobs: operator keys inspect, cancel and retry; tenant keys may not")
    func jobs() async throws {
        try await api.withWorld { world in
            let started = try await api.get("\(world.baseURL)/v1/connections/\(world.connectionA)/syncs", key: world.writeA, method: .POST, body: "{}")
            guard case .number(let jobID)? = started.json["data"]?.firstElement?["job_id"] else { Issue.record("no job: \(started.json)"); return }
            let id = Int(jobID)
            #expect(try await api.get("\(world.baseURL)/v1/jobs", key: world.readA).status == 403)
            let list = try await api.get("\(world.baseURL)/v1/jobs?state=available", key: world.admin)
            #expect(list.json["data"]?.arrayCount == 1)
            #expect(try await api.get("\(world.baseURL)/v1/jobs?state=sideways", key: world.admin).status == 400)
            let shown = try await api.get("\(world.baseURL)/v1/jobs/\(id)", key: world.admin)
            #expect(shown.json["kind"] == .string("sync.stream"))
            // Job arguments are ids, never credentials.
            #expect(shown.json["args"]?["connection"] == .string(world.connectionA.uuidString.lowercased()))
            let cancelled = try await api.get("\(world.baseURL)/v1/jobs/\(id)/cancel", key: world.admin, method: .POST)
            #expect(cancelled.json["state"] == .string("cancelled"))
            #expect(try await api.get("\(world.baseURL)/v1/jobs/999999", key: world.admin).status == 404)
        }
    }

    @Test("the OpenAPI document describes every route, and each answers with a documented status")
    func openAPIMatchesRoutes() async throws {
        try await api.withWorld { world in
            let document = try await api.get("\(world.baseURL)/openapi.json", key: nil)
            #expect(document.status == 200)
            #expect(document.json["openapi"] == .string("3.1.0"))
            guard case .object(let paths)? = document.json["paths"] else { Issue.record("no paths"); return }
            let expected: Set<String> = [
                "GET /healthz", "GET /readyz", "GET /v1/records", "GET /v1/connections", "POST /v1/connections", "GET /v1/connections/{id}",
                "PATCH /v1/connections/{id}", "DELETE /v1/connections/{id}",
                "POST /v1/connections/{id}/syncs", "GET /v1/connections/{id}/syncs", "GET /v1/connectors", "POST /v1/connectors",
                "GET /v1/connectors/{name}", "GET /v1/models", "POST /v1/models", "GET /v1/models/{name}", "GET /v1/tenants", "POST /v1/tenants",
                "GET /v1/unified/{model}", "GET /v1/unified/{model}/{id}", "GET /v1/unified/{model}/changes", "GET /v1/tenants/{id}/quota", "PUT /v1/tenants/{id}/quota",
                "GET /v1/jobs", "GET /v1/jobs/{id}", "POST /graphql",
                "POST /v1/jobs/{id}/cancel", "POST /v1/jobs/{id}/retry", "GET /metrics",
                "GET /v1/connections/{id}/webhook-events", "POST /v1/webhooks/{connection_id}", "POST /v1/webhooks/tenants/{tenant_id}/connectors/{name}",
            ]
            var documented: Set<String> = []
            for (path, item) in paths {
                guard case .object(let operations) = item else { continue }
                for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
            }
            #expect(documented == expected)
            // Call each with a key that may, and plausible arguments: the status must be documented.
            for operation in documented.sorted() {
                let parts = operation.split(separator: " ")
                let method = String(parts[0]), template = String(parts[1])
                let path = template.replacingOccurrences(
                    of: "{id}",
                    with: template.hasPrefix("/v1/jobs") ? "1" : template.hasPrefix("/v1/tenants") ? world.tenantA.description : world.connectionA.uuidString
                )
                    .replacingOccurrences(of: "{name}", with: template.hasPrefix("/v1/models") ? "person" : "crm")
                    .replacingOccurrences(of: "{model}", with: "person")
                    .replacingOccurrences(of: "{connection_id}", with: world.connectionA.uuidString)
                    .replacingOccurrences(of: "{tenant_id}", with: world.tenantA.description)
                let key: String? = template.hasPrefix("/v1/webhooks") ? nil
                    : template.hasPrefix("/v1/tenants") || template.hasPrefix("/v1/jobs") ? world.admin
                    : method == "POST" && (template.hasPrefix("/v1/connectors") || template.hasPrefix("/v1/models")) ? world.connectorsWriter
                    : template == "/graphql" ? world.readA
                    : method != "GET" ? world.writeA : template.hasPrefix("/v1") ? world.readA : nil
                let query = template == "/v1/records" ? "?connection_id=\(world.connectionA)&stream=contacts" : ""
                let body: String? = method != "POST" ? nil : template == "/v1/tenants" ? #"{"name": "Initech"}"#
                    : template == "/graphql" ? #"{"query": "{ personList(first: 2) { nodes { id } } }"}"#
                    : template == "/v1/models" ? String(decoding: try JSONEncoder().encode(JSONValue.object(["definition": .string(Self.personModel)])), as: UTF8.self)
                    : template == "/v1/connectors" ? String(decoding: try JSONEncoder().encode(JSONValue.object([
                        "name": .string("crm"), "manifest": .string(APIWorld.manifest), "sidecar": .string(APIWorld.sidecar)])), as: UTF8.self)
                    : "{}"
                let httpMethod: HTTPMethod = method == "POST" ? .POST : method == "PATCH" ? .PATCH : method == "PUT" ? .PUT
                    : method == "DELETE" ? .DELETE : .GET
                let reply = try await api.get(world.baseURL + path + query, key: key, method: httpMethod,
                                              body: method == "PATCH" || method == "PUT" ? "{}" : body)
                let statuses = paths[template]?[method.lowercased()]?["responses"]?.objectValue?.keys.map { $0 } ?? []
                #expect(statuses.contains(String(reply.status)), "\(operation) answered \(reply.status), documented: \(statuses.sorted())")
                if reply.status >= 400 { #expect(reply.headers["content-type"] == "application/problem+json", "\(operation)") }
            }
            let docs = try await api.get("\(world.baseURL)/docs", key: nil)
            #expect(docs.status == 200)
        }
    }

    @Test("connections are created, updated and deleted; credentials go in and never come out")
    func connectionLifecycle() async throws {
        try await api.withWorld { world in
            let secret = "sk_live_write_only_\(UUID().uuidString.prefix(8))"
            let body = #"{"connector": "crm", "account": "acct-7", "config": {"api_key": "\#(secret)", "region": "eu"}, "schedule_seconds": 3600}"#
            #expect(try await api.get("\(world.baseURL)/v1/connections", key: world.readA, method: .POST, body: body).status == 403)
            let created = try await api.get("\(world.baseURL)/v1/connections", key: world.writeA, method: .POST, body: body)
            #expect(created.status == 201, "\(created.json)")
            guard case .string(let id)? = created.json["id"] else { Issue.record("no id: \(created.json)"); return }
            let shown = try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.readA)
            #expect(shown.json["config"]?["region"] == .string("eu"))
            #expect(shown.json["config"]?["api_key"] == nil)
            for reply in [created, shown, try await api.get("\(world.baseURL)/v1/connections", key: world.readA)] {
                let text = String(decoding: try JSONEncoder().encode(reply.json), as: UTF8.self)
                #expect(!text.contains(secret), "a response carried the credential")
            }
            let stored = try await count(world.client, "SELECT count(*)::int FROM connections WHERE config::text LIKE \("%" + secret + "%")")
                + count(world.vault, "SELECT count(*)::int FROM connection_credentials WHERE position(convert_to(\(secret), 'UTF8') in sealed) > 0")
            #expect(stored == 0)

            // Pause, then change the plain config only: the credential keeps its value.
            let paused = try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.writeA, method: .PATCH,
                                       body: #"{"status": "paused", "config": {"region": "us"}, "schedule_seconds": null}"#)
            #expect(paused.status == 200, "\(paused.json)")
            #expect(paused.json["status"] == .string("paused"))
            let credentials = try await ConnectionStore(client: world.client, keyring: world.keyring, logger: TestDatabase.logger)
                .credentials(tenant: world.tenantA, connection: UUID(uuidString: id)!)
            #expect(String(decoding: credentials.revealed, as: UTF8.self).contains(secret))
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.writeA, method: .PATCH, body: #"{"status": "gone"}"#).status == 400)

            // Pointing the connection at another host (the url_base reads config.subdomain) without
            // sending the credentials again is refused: they would go to whoever answers there.
            let moved = try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.writeA, method: .PATCH,
                                      body: #"{"config": {"region": "us", "subdomain": "attacker"}}"#)
            #expect(moved.status == 422, "\(moved.json)")
            #expect(moved.json["detail"]?.stringValue?.contains("config.subdomain decides where crm's requests go") == true, "\(moved.json)")
            #expect(moved.json["detail"]?.stringValue?.contains("send api_key") == true, "\(moved.json)")
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.readA).json["config"]?["subdomain"] == nil)
            // With the credentials sent again, the move is the owner's own.
            let resent = try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.writeA, method: .PATCH,
                                       body: #"{"config": {"region": "us", "subdomain": "crm2", "api_key": "sk_new"}}"#)
            #expect(resent.status == 200, "\(resent.json)")
            let replaced = try await ConnectionStore(client: world.client, keyring: world.keyring, logger: TestDatabase.logger)
                .credentials(tenant: world.tenantA, connection: UUID(uuidString: id)!)
            #expect(String(decoding: replaced.revealed, as: UTF8.self).contains("sk_new"))

            // Another tenant can't touch it.
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.readB).status == 404)
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.writeA, method: .DELETE).status == 204)
            #expect(try await api.get("\(world.baseURL)/v1/connections/\(id)", key: world.readA).status == 404)
        }
    }

    @Test("a key over its rate gets 429 with Retry-After")
    func rateLimit() async throws {
        // One token per 100 s and a burst of 2: the third request is over, however slowly the suite runs.
        try await api.withWorld(rateLimit: 0.01, rateBurst: 2) { world in
            var statuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<4 {
                let reply = try await api.get("\(world.baseURL)/v1/connectors", key: world.readA)
                statuses.append(reply.status)
                if reply.status == 429 { retryAfter = reply.headers["retry-after"] }
            }
            #expect(statuses.prefix(2) == [200, 200])
            #expect(statuses.contains(429))
            #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 } == true, "Retry-After: \(retryAfter ?? "none")")
            // Another key has its own bucket.
            #expect(try await api.get("\(world.baseURL)/v1/connectors", key: world.readB).status == 200)
        }
    }

    func count(_ client: PostgresClient, _ sql: PostgresQuery) async throws -> Int {
        for try await value in try await client.query(sql, logger: TestDatabase.logger).decode(Int.self) { return value }
        return 0
    }
}

/// Hands the server's port from `onServerRunning` to the test.
actor PortBox {
    private var port: Int?

    func store(_ value: Int) { port = value }

    func wait() async throws -> Int {
        for _ in 0..<500 {
            if let port { self.port = nil; return port }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HubError(.internalError, "the API server did not start")
    }
}

extension JSONValue {
    var arrayCount: Int? { if case .array(let items) = self { return items.count } else { return nil } }
    var firstElement: JSONValue? { if case .array(let items) = self { return items.first } else { return nil } }
}
