import Foundation
import HubCore
import HubGraphQL
import HubStore
import Hummingbird

/// `POST /graphql`: the unified entities, their sources and records of the key's tenant, for
/// `records:read` keys. Sensitive values come back in clear only for `records:read-sensitive`
/// keys, each such read audited, as on the REST routes; limits on depth, size and cost are
/// `GraphQLGateway`'s. Errors of the query itself answer 200 with `errors`, as GraphQL over
/// HTTP has `application/json` responses do; a body that is no GraphQL request is a 400.
struct GraphQLController: Sendable {
    let gateway: GraphQLGateway
    let body: RequestBody

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        routes.group(context: TenantRequestContext.self).post { request, context in try await execute(request, context) }
    }

    func execute(_ request: Request, _ context: TenantRequestContext) async throws -> Response {
        try context.require(.recordsRead)
        let expected = #"a GraphQL request: {"query": "{ personList(first: 10) { nodes { id } } }", "variables": {…}, "operationName": …}"#
        let object = try await body.object(request, expected: expected)!
        var errors: [String: String] = [:]
        for key in object.keys where !["query", "variables", "operationName", "extensions"].contains(key) {
            errors[key] = "is not a field of a GraphQL request (query, variables, operationName, extensions)"
        }
        let query = object["query"]?.stringValue
        if query == nil { errors["query"] = "is required: the GraphQL document, as a string" }
        if let query, query.utf8.count > GraphQLGateway.maxQueryBytes {
            errors["query"] = "is \(query.utf8.count) bytes; the limit is \(GraphQLGateway.maxQueryBytes)"
        }
        var variables: [String: JSONValue] = [:]
        switch object["variables"] {
        case nil, .null?: break
        case .object(let values)?: variables = values
        default: errors["variables"] = "must be an object of variable names to values"
        }
        var operationName: String?
        switch object["operationName"] {
        case nil, .null?: break
        case .string(let name)?: operationName = name
        default: errors["operationName"] = "must be a string"
        }
        switch object["extensions"] {
        case nil, .null?, .object?: break
        default: errors["extensions"] = "must be an object"
        }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        let actor: AuditActor? = context.identity.allows(.recordsReadSensitive) ? .apiKey(context.identity.keyID, requestID: context.requestID) : nil
        let bytes = try await gateway.execute(.init(query: query!, operationName: operationName, variables: variables), tenant: context.tenant, actor: actor)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
