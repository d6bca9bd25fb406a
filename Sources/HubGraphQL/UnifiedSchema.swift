import Foundation
import GraphQL
import HubConnectors
import HubCore
import HubStore
import HubSync
import OrderedCollections

/// The GraphQL schema of the registered unified models, built from them at run time (models
/// are data: registering one adds its types without a deploy). For a model `person`:
///
/// ```graphql
/// type Query {
///   person(id: ID!): Person                       # follows merges to the surviving entity
///   personList(first: Int = 20, after: String, email: String, phone: String): PersonConnection!
///   record(connectionId: ID!, stream: String!, externalId: String!): Record
/// }
/// type Person { id: ID!  model: String!  updatedAt: String!  fields: PersonFields!
///               fieldSources: [PersonFieldSource!]!  sourceCount: Int!  sources(first: Int = 20): [UnifiedSource!]! }
/// ```
///
/// A model field whose name is no GraphQL name is left out of `…Fields` (the REST API has it).
struct UnifiedSchema: Sendable {
    static let defaultPage = 20
    static let pageRange = 1...100

    let schema: GraphQLSchema
    let costs: QueryCosts

    init(models: [UnifiedModel]) throws {
        var costs = QueryCosts()
        let shared = try SharedTypes()
        var query: GraphQLFieldMap = [:]
        var types: Set<String> = ["Query", "PageInfo", "Record", "UnifiedSource", "JSON"]
        for model in models.sorted(by: { $0.name < $1.name }) {
            let typeName = GraphQLValues.typeName(model: model.name)
            let fieldName = GraphQLValues.fieldName(model: model.name)
            // Two names that read alike (`a-b`, `a_b`, or `a-b-fields` beside `a-b`'s `ABFields`):
            // the first keeps the GraphQL names, the other is left out rather than break the schema.
            let names = [typeName, typeName + "Fields", typeName + "FieldSource", typeName + "Edge", typeName + "Connection"]
            guard GraphQLValues.isName(typeName), types.isDisjoint(with: names), query[fieldName] == nil, query[fieldName + "List"] == nil else { continue }
            types.formUnion(names)
            let entity = try Self.entityType(model, typeName: typeName, shared: shared, costs: &costs)
            let connection = try Self.connectionType(typeName: typeName, entity: entity, pageInfo: shared.pageInfo, costs: &costs)
            query[fieldName] = Self.entityQuery(model, type: entity)
            query[fieldName + "List"] = Self.listQuery(model, type: connection)
            costs.lists["Query.\(fieldName)List"] = .argument("first", fallback: Self.defaultPage)
        }
        query["record"] = Self.recordQuery(shared.record)
        costs.extra["Query.record"] = QueryCosts.databaseRead
        costs.extra["UnifiedSource.record"] = QueryCosts.databaseRead
        schema = try GraphQLSchema(
            description: "Tributary's aggregated data: unified entities of the key's tenant, their sources and records.",
            query: GraphQLObjectType(name: "Query", fields: query)
        )
        let problems = validateSchema(schema: schema)
        guard problems.isEmpty else {
            throw HubError(.storedDataInvalid, "the GraphQL schema of the registered models is invalid: \(problems.map(\.message).joined(separator: "; "))")
        }
        // Introspection's lists, priced at their longest in this schema: the types, a type's
        // fields, a field's arguments.
        var (fields, arguments) = (1, 1)
        for type in schema.typeMap.values {
            guard let object = type as? GraphQLObjectType, let map = try? object.fields() else { continue }
            fields = max(fields, map.count)
            arguments = max(arguments, map.values.map(\.args.count).max() ?? 0)
        }
        costs.lists["__Schema.types"] = .fixed(schema.typeMap.count)
        for key in ["__Type.fields", "__Type.inputFields"] { costs.lists[key] = .fixed(fields) }
        for key in ["__Field.args", "__Directive.args"] { costs.lists[key] = .fixed(arguments) }
        self.costs = costs
    }

    /// The types every model's types point to.
    struct SharedTypes {
        let pageInfo: GraphQLObjectType
        let record: GraphQLObjectType
        let source: GraphQLObjectType
        let json: GraphQLScalarType

        init() throws {
            let json = try GraphQLValues.jsonScalar()
            self.json = json
            pageInfo = try GraphQLObjectType(name: "PageInfo", fields: [
                "hasNextPage": Resolve.field(GraphQLNonNull(GraphQLBoolean)) { (page: EntityPage) in page.hasNextPage },
                "endCursor": Resolve.field(GraphQLString, "Pass as `after` for the next page.") { (page: EntityPage) in page.cursors.last },
            ])
            record = try GraphQLObjectType(name: "Record", description: "A record as its connection stored it.", fields: [
                "connectionId": Resolve.field(GraphQLNonNull(GraphQLID)) { (node: RecordNode) in node.record.key.connection.uuidString.lowercased() },
                "stream": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: RecordNode) in node.record.key.stream },
                "externalId": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: RecordNode) in node.record.key.externalID },
                "data": Resolve.field(GraphQLNonNull(json), "Its fields, without the sensitive ones.") { (node: RecordNode) in
                    GraphQLValues.map(.object(node.record.data))
                },
                "sensitive": Resolve.field(json, "Its sensitive fields in clear: null unless the key holds records:read-sensitive (each such read is audited).") { (node: RecordNode) in
                    node.record.sensitive.map { GraphQLValues.map(.object($0.revealed)) }
                },
            ])
            let record = record
            source = try GraphQLObjectType(name: "UnifiedSource", description: "A record that an entity draws on.", fields: [
                "connectionId": Resolve.field(GraphQLNonNull(GraphQLID)) { (node: SourceNode) in node.source.connection.uuidString.lowercased() },
                "connector": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: SourceNode) in node.source.connector },
                "stream": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: SourceNode) in node.source.stream },
                "externalId": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: SourceNode) in node.source.externalID },
                "changedAt": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: SourceNode) in RFC3339.string(node.source.changedAt) },
                "record": GraphQLField(type: record, description: "The source's stored record (a read of its own).") { source, _, context, _ in
                    let node = try Resolve.parent(source, as: SourceNode.self)
                    let context = try Resolve.parent(context, as: GraphQLContext.self)
                    let key = RecordKey(connection: node.source.connection, stream: node.source.stream, externalID: node.source.externalID)
                    return try await context.read("reading a source record") { try await context.record(key) }
                },
            ])
        }
    }
}
