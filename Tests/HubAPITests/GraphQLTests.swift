import Foundation
import HubCore
import HubStore
import NIOHTTP1
import PostgresNIO
import Testing
import TributaryTestSupport

/// `POST /graphql` against a real server and database: the unified entities with their
/// sources and records, the same keys and scopes as REST, and the limits that stop a query
/// built to exhaust the server.
@Suite("GraphQL", .serialized)
struct GraphQLTests {
    let api = APIWorld()

    /// Sends `query` (with `variables`) as a GraphQL request.
    func graphql(_ world: APIWorld.World, _ query: String, variables: [String: JSONValue] = [:], key: String?) async throws -> APIWorld.Reply {
        let body = JSONValue.object(["query": .string(query), "variables": .object(variables)]).canonicalJSON
        return try await api.get("\(world.baseURL)/graphql", key: key, method: .POST, body: body)
    }

    /// A world with the person model registered, two of tenant A's contacts linked as one Ada
    /// (by email), a Bob, and tenant B's own Ada.
    func withPeople(_ body: @Sendable (APIWorld.World, TenantID) async throws -> Void) async throws {
        try await api.withWorld { world in
            let model = JSONValue.object(["definition": .string(APIv1Tests.personModel)]).canonicalJSON
            #expect(try await api.get("\(world.baseURL)/v1/models", key: world.connectorsWriter, method: .POST, body: model).status == 201)
            let tenantB = try await ConnectionStore(client: world.client, logger: TestDatabase.logger).connection(world.connectionB).tenant
            try await api.linkPerson(world, world.tenantA, world.connectionA, "c1", ["email": "Ada@X.com", "full_name": "Ada L"])
            try await api.linkPerson(world, world.tenantA, world.connectionA, "c2", ["email": "ada@x.com", "full_name": "Ada Lovelace"])
            try await api.linkPerson(world, world.tenantA, world.connectionA, "c3", ["email": "bob@y.com", "full_name": "Bob"])
            try await api.linkPerson(world, tenantB, world.connectionB, "c1", ["email": "ada@x.com", "full_name": "Someone Else"])
            try await body(world, tenantB)
        }
    }

    static let adaQuery = """
        query Ada($email: String) {
          personList(email: $email, first: 5) {
            nodes { id model fields { email full_name } sourceCount
                    fieldSources { field source { externalId } }
                    sources { connector stream externalId changedAt record { externalId data sensitive } } }
            pageInfo { hasNextPage endCursor }
          }
        }
        """

    @Test("entities come back merged with their sources and records; sensitive values only for sensitive keys, audited")
    func entities() async throws {
        try await withPeople { world, _ in
            let masked = try await graphql(world, Self.adaQuery, variables: ["email": .string(" ADA@x.com")], key: world.readA)
            #expect(masked.status == 200)
            #expect(masked.json["errors"] == nil, "\(masked.json)")
            let nodes = masked.json["data"]?["personList"]?["nodes"]
            #expect(nodes?.arrayCount == 1, "\(masked.json)")
            let ada = try #require(nodes?.firstElement)
            #expect(ada["model"] == .string("person"))
            #expect(ada["sourceCount"] == .number(2))
            #expect(ada["fields"]?["full_name"] == .string("Ada Lovelace"), "the most recent crm source wins: \(ada)")
            #expect(ada["fields"]?["email"] == .string("***"), "masked without records:read-sensitive")
            #expect(ada["sources"]?.firstElement?["record"]?["externalId"] == .string(ada["sources"]?.firstElement?["externalId"]?.stringValue ?? "-"))
            #expect(ada["sources"]?.firstElement?["record"]?["sensitive"] == .null, "a record's sensitive fields stay sealed")
            #expect(ada["sources"]?.firstElement?["record"]?["data"]?["email"] == nil)
            #expect(masked.json["data"]?["personList"]?["pageInfo"]?["hasNextPage"] == .bool(false))

            let revealed = try await graphql(world, Self.adaQuery, variables: ["email": .string("ada@x.com")], key: world.sensitiveA)
            let shown = try #require(revealed.json["data"]?["personList"]?["nodes"]?.firstElement, "\(revealed.json)")
            #expect(shown["fields"]?["email"]?.stringValue?.lowercased() == "ada@x.com", "\(shown)")
            #expect(shown["sources"]?.firstElement?["record"]?["sensitive"]?["email"] != nil, "\(shown)")
            var audited = 0
            for try await count in try await world.vault.query(
                "SELECT count(*)::int FROM audit_log WHERE tenant_id = \(world.tenantA.rawValue)", logger: TestDatabase.logger
            ).decode(Int.self) { audited = count }
            #expect(audited >= 4, "two revealed sources and two revealed records are audited, found \(audited)")

            let id = try #require(ada["id"]?.stringValue)
            let one = try await graphql(world, "query($id: ID!) { person(id: $id) { id sources(first: 1) { externalId } } }", variables: ["id": .string(id)], key: world.readA)
            #expect(one.json["data"]?["person"]?["id"] == .string(id), "\(one.json)")
            #expect(one.json["data"]?["person"]?["sources"]?.arrayCount == 1, "sources(first: 1) gives one")
        }
    }

    @Test("a tenant never reaches another tenant's entities or records through GraphQL")
    func isolation() async throws {
        try await withPeople { world, _ in
            let mine = try await graphql(world, "{ personList { nodes { id fields { full_name } } } }", key: world.readA)
            let adaID = try #require(mine.json["data"]?["personList"]?["nodes"]?.arrayValue?.first(where: { $0["fields"]?["full_name"] == .string("Ada Lovelace") })?["id"]?.stringValue)
            let theirs = try await graphql(world, "{ personList { nodes { fields { full_name } } } }", key: world.readB)
            #expect(theirs.json["data"]?["personList"]?["nodes"] == .array([.object(["fields": .object(["full_name": .string("Someone Else")])])]), "\(theirs.json)")
            let byID = try await graphql(world, "query($id: ID!) { person(id: $id) { id } }", variables: ["id": .string(adaID)], key: world.readB)
            #expect(byID.json["data"]?["person"] == .null, "B asks for A's entity by id: \(byID.json)")
            let record = try await graphql(world, "query($c: ID!) { record(connectionId: $c, stream: \"contacts\", externalId: \"c1\") { externalId } }",
                                           variables: ["c": .string(world.connectionA.uuidString)], key: world.readB)
            #expect(record.json["data"]?["record"] == .null, "B asks for A's record: \(record.json)")
            let own = try await graphql(world, "query($c: ID!) { record(connectionId: $c, stream: \"contacts\", externalId: \"c1\") { externalId data } }",
                                        variables: ["c": .string(world.connectionA.uuidString)], key: world.readA)
            #expect(own.json["data"]?["record"]?["externalId"] == .string("c1"), "\(own.json)")
        }
    }

    @Test("pages follow cursors, and bad arguments say which and why")
    func paging() async throws {
        try await withPeople { world, _ in
            let first = try await graphql(world, "{ personList(first: 1) { nodes { id } pageInfo { hasNextPage endCursor } } }", key: world.readA)
            #expect(first.json["data"]?["personList"]?["pageInfo"]?["hasNextPage"] == .bool(true), "\(first.json)")
            let cursor = try #require(first.json["data"]?["personList"]?["pageInfo"]?["endCursor"]?.stringValue)
            let second = try await graphql(world, "query($after: String) { personList(first: 1, after: $after) { nodes { id } pageInfo { hasNextPage } } }",
                                           variables: ["after": .string(cursor)], key: world.readA)
            #expect(second.json["data"]?["personList"]?["nodes"]?.arrayCount == 1)
            #expect(second.json["data"]?["personList"]?["nodes"] != first.json["data"]?["personList"]?["nodes"])
            #expect(second.json["data"]?["personList"]?["pageInfo"]?["hasNextPage"] == .bool(false))

            let tooMany = try await graphql(world, "{ personList(first: 1000) { nodes { id } } }", key: world.readA)
            #expect(tooMany.json["errors"]?.firstElement?["message"]?.stringValue?.contains("first must be between 1 and 100") == true, "\(tooMany.json)")
            let badCursor = try await graphql(world, "{ personList(after: \"nope\") { nodes { id } } }", key: world.readA)
            #expect(badCursor.json["errors"]?.firstElement?["message"]?.stringValue?.contains("after is not a cursor") == true, "\(badCursor.json)")
            let badID = try await graphql(world, "{ person(id: \"x\") { id } }", key: world.readA)
            #expect(badID.json["errors"]?.firstElement?["message"]?.stringValue?.contains("UUID") == true, "\(badID.json)")
            let unknown = try await graphql(world, "{ personList { nodes { shoeSize } } }", key: world.readA)
            #expect(unknown.json["errors"]?.firstElement?["message"]?.stringValue?.contains("shoeSize") == true, "\(unknown.json)")
            let syntax = try await graphql(world, "{ personList { ", key: world.readA)
            #expect(syntax.status == 200 && syntax.json["errors"]?.arrayCount == 1, "\(syntax.json)")
        }
    }

    @Test("keys and bodies are checked like REST's: no key 401, no records:read 403, not a GraphQL request 400")
    func access() async throws {
        try await withPeople { world, _ in
            #expect(try await graphql(world, "{ __typename }", key: nil).status == 401)
            #expect(try await graphql(world, "{ __typename }", key: world.writeA).status == 403)
            #expect(try await graphql(world, "{ __typename }", key: world.admin).status == 403, "an operator key has no tenant")
            let notJSON = try await api.get("\(world.baseURL)/graphql", key: world.readA, method: .POST, body: "{ personList { nodes { id } } }")
            #expect(notJSON.status == 400)
            let noQuery = try await api.get("\(world.baseURL)/graphql", key: world.readA, method: .POST, body: #"{"variables": 3, "mutation": 1, "extensions": []}"#)
            #expect(noQuery.status == 400)
            let fields = Set(noQuery.json["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
            #expect(fields == ["query", "variables", "mutation", "extensions"], "\(noQuery.json)")
            let huge = String(repeating: "{ __typename }", count: 5_000)
            #expect(try await graphql(world, huge, key: world.readA).status == 400, "a query over 64 KiB")
        }
    }

    @Test("queries too deep, too large or too costly are refused before they run, and introspection still works")
    func limits() async throws {
        try await withPeople { world, _ in
            func code(_ query: String) async throws -> String? {
                let reply = try await graphql(world, query, key: world.readA)
                #expect(reply.json["data"] == nil || reply.json["data"] == .null, "\(query): \(reply.json)")
                return reply.json["errors"]?.firstElement?["extensions"]?["code"]?.stringValue
            }
            let deep = "{ __schema { types { " + String(repeating: "fields { type { ", count: 7) + "name" + String(repeating: " } }", count: 7) + " } } }"
            let deepCode = try await code(deep)
            #expect(deepCode == "query_too_deep", "\(deep)")
            let costly = "{ personList(first: 100) { nodes { sources(first: 100) { record { externalId } } } } }"
            #expect(try await code(costly) == "query_too_costly")
            let aliased = "{ " + (1...60).map { "p\($0): personList(first: 100) { nodes { id } }" }.joined(separator: " ") + " }"
            #expect(try await code(aliased) == "query_too_costly", "aliases count each time")
            // Each fragment spreads the next twice: 2^15 copies of one field in a few lines.
            var fragments = "fragment F15 on Query { __typename }\n"
            for level in 0..<15 { fragments += "fragment F\(level) on Query { ...F\(level + 1) ...F\(level + 1) }\n" }
            #expect(try await code("{ ...F0 }\n" + fragments) == "query_too_large")

            // Attacks found in review: each must be refused, and none may bring the process down.
            var nested = "record(connectionId: \"\(UUID())\", stream: \"s\", externalId: \"e\") { stream }"
            for _ in 0..<10 { nested = "personList(first: 100) { ... on Query { \(nested) } }" }
            #expect(try await code("{ \(nested) }") == "query_too_costly", "fragments on Query nested ten deep: saturating, not trapping")
            #expect(try await code("{ record(connectionId: " + String(repeating: "[", count: 20_000) + " }") == "query_too_deep",
                    "brackets nested past the parser's stack are refused before it runs")
            #expect(try await code("query($n: Int = 100) { personList(first: $n) { nodes { sources(first: $n) { record { data } } } } }")
                    == "query_too_costly", "a variable's default counts")
            #expect(try await code("{ x: personList(first: 100) { nodes { id } } x: personList(first: 1) { nodes { sources { record { data } } } } }")
                    == "query_conflict", "one response key, two sets of arguments")
            #expect(try await code("{ personList(first: 49) { nodes { sources(first: 50) { record { data } } } } }") == "query_too_costly",
                    "a source's record is a database read")
            // A document met before is not parsed again, but its limits hold for each request's variables.
            let paged = "query($n: Int) { personList(first: $n) { nodes { sources(first: $n) { record { externalId } } } } }"
            let small = try await graphql(world, paged, variables: ["n": .number(1)], key: world.readA)
            #expect(small.json["errors"] == nil && small.json["data"]?["personList"]?["nodes"]?.arrayCount == 1, "\(small.json)")
            let large = try await graphql(world, paged, variables: ["n": .number(100)], key: world.readA)
            #expect(large.json["errors"]?.firstElement?["extensions"]?["code"] == .string("query_too_costly"), "\(large.json)")
            let alive = try await graphql(world, "{ __typename }", key: world.readA)
            #expect(alive.json["data"]?["__typename"] == .string("Query"))

            let introspection = try await graphql(world, Self.introspectionQuery, key: world.readA)
            #expect(introspection.json["errors"] == nil, "\(introspection.json)")
            let names = introspection.json["data"]?["__schema"]?["types"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(Set(["Person", "PersonFields", "PersonConnection", "UnifiedSource", "Record"]).isSubset(of: Set(names)), "\(names)")
        }
    }

    /// The introspection query GraphiQL and most clients send first.
    static let introspectionQuery = """
        query IntrospectionQuery {
          __schema {
            queryType { name } mutationType { name } subscriptionType { name }
            types { ...FullType }
            directives { name description locations args { ...InputValue } }
          }
        }
        fragment FullType on __Type {
          kind name description
          fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
          inputFields { ...InputValue }
          interfaces { ...TypeRef }
          enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
          possibleTypes { ...TypeRef }
        }
        fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
        fragment TypeRef on __Type {
          kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
        }
        """
}
