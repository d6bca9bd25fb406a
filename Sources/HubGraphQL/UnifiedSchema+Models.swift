import Foundation
import GraphQL
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync
import OrderedCollections

extension UnifiedSchema {
    /// `Person`, with `PersonFields` (one GraphQL field per model field) and `PersonFieldSource`.
    static func entityType(_ model: UnifiedModel, typeName: String, shared: SharedTypes, costs: inout QueryCosts) throws -> GraphQLObjectType {
        var fieldMap: GraphQLFieldMap = [:]
        for name in model.fields where GraphQLValues.isName(name) {
            let kind = FieldKind(schema: model.schema, field: name, json: shared.json)
            let description = model.sensitive.contains(name) ? "Sensitive: `***` unless the key holds records:read-sensitive." : nil
            fieldMap[name] = Resolve.field(kind.type, description) { (node: EntityNode) in node.view.fields[name].flatMap(kind.value) }
        }
        let fields = try GraphQLObjectType(name: typeName + "Fields", description: "The merged fields of a \(model.name).", fields: fieldMap)
        let fieldSource = try GraphQLObjectType(name: typeName + "FieldSource", description: "Which source a merged field's value came from.", fields: [
            "field": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: FieldSourceNode) in node.field },
            "source": Resolve.field(GraphQLNonNull(shared.source)) { (node: FieldSourceNode) in node.source },
        ])
        costs.lists["\(typeName).sources"] = .argument("first", fallback: defaultPage)
        costs.lists["\(typeName).fieldSources"] = .fixed(max(1, model.fields.count))
        return try GraphQLObjectType(name: typeName, description: model.description, fields: [
            "id": Resolve.field(GraphQLNonNull(GraphQLID)) { (node: EntityNode) in node.view.entity.id.uuidString.lowercased() },
            "model": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: EntityNode) in node.model.name },
            "updatedAt": Resolve.field(GraphQLNonNull(GraphQLString)) { (node: EntityNode) in RFC3339.string(node.view.entity.updatedAt) },
            "fields": Resolve.field(GraphQLNonNull(fields)) { (node: EntityNode) in node },
            "fieldSources": Resolve.field(GraphQLNonNull(GraphQLList(GraphQLNonNull(fieldSource)))) { (node: EntityNode) in
                node.view.origins.sorted { $0.key < $1.key }.map { FieldSourceNode(field: $0.key, source: SourceNode(source: node.view.entity.sources[$0.value])) }
            },
            "sourceCount": Resolve.field(GraphQLNonNull(GraphQLInt)) { (node: EntityNode) in node.view.entity.sources.count },
            "sources": GraphQLField(
                type: GraphQLNonNull(GraphQLList(GraphQLNonNull(shared.source))), description: "The records it draws on, oldest change first.",
                args: ["first": GraphQLArgument(type: GraphQLInt, description: "At most this many (1–100).", defaultValue: .int(defaultPage))]
            ) { source, args, _, _ in
                let node = try Resolve.parent(source, as: EntityNode.self)
                let first = try Resolve.int(args, "first", in: pageRange, fallback: defaultPage)
                return node.view.entity.sources.prefix(first).map { SourceNode(source: $0) }
            },
        ])
    }

    /// `PersonConnection` and `PersonEdge`, Relay's cursor connection.
    static func connectionType(typeName: String, entity: GraphQLObjectType, pageInfo: GraphQLObjectType, costs: inout QueryCosts) throws -> GraphQLObjectType {
        let edge = try GraphQLObjectType(name: typeName + "Edge", fields: [
            "cursor": Resolve.field(GraphQLNonNull(GraphQLString)) { (edge: EdgeNode) in edge.cursor },
            "node": Resolve.field(GraphQLNonNull(entity)) { (edge: EdgeNode) in edge.node },
        ])
        // The connection's own size is counted at the list query: its lists are that page.
        costs.lists["\(typeName)Connection.edges"] = .fixed(1)
        costs.lists["\(typeName)Connection.nodes"] = .fixed(1)
        return try GraphQLObjectType(name: typeName + "Connection", fields: [
            "edges": Resolve.field(GraphQLNonNull(GraphQLList(GraphQLNonNull(edge)))) { (page: EntityPage) in
                zip(page.cursors, page.nodes).map { EdgeNode(cursor: $0, node: $1) }
            },
            "nodes": Resolve.field(GraphQLNonNull(GraphQLList(GraphQLNonNull(entity)))) { (page: EntityPage) in page.nodes },
            "pageInfo": Resolve.field(GraphQLNonNull(pageInfo)) { (page: EntityPage) in page },
        ])
    }

    /// `person(id:)`: the entity, following merges; null when it is not found.
    static func entityQuery(_ model: UnifiedModel, type: GraphQLObjectType) -> GraphQLField {
        GraphQLField(type: type, description: "One \(model.name) by id; an id merged into another answers with the survivor.",
                     args: ["id": GraphQLArgument(type: GraphQLNonNull(GraphQLID))]) { _, args, context, _ in
            let context = try Resolve.parent(context, as: GraphQLContext.self)
            guard let text = args["id"].string, let id = UUID(uuidString: text) else {
                throw GraphQLError(message: "id must be an entity id (a UUID)", extensions: ["code": .string("invalid_input")])
            }
            return try await context.read("reading a \(model.name)") { () -> EntityNode? in
                do {
                    let entity = try await context.entities.entity(tenant: context.tenant, model: model.name, id: id, actor: context.actor)
                    return EntityNode(view: EntityView(entity, model: model), model: model)
                } catch let error as HubError where error.code == .notFound {
                    return nil
                }
            }
        }
    }

    /// `personList(first:after:email:…)`: entities in change order, the REST list's cursors;
    /// at most one identity key filters, through its blind index.
    static func listQuery(_ model: UnifiedModel, type: GraphQLObjectType) -> GraphQLField {
        var args: GraphQLArgumentConfigMap = [
            "first": GraphQLArgument(type: GraphQLInt, description: "A page of at most this many (1–100).", defaultValue: .int(defaultPage)),
            "after": GraphQLArgument(type: GraphQLString, description: "The `endCursor` of the page before."),
        ]
        for key in model.identity where GraphQLValues.isName(key.name) && args[key.name] == nil {
            args[key.name] = GraphQLArgument(type: GraphQLString, description: "Only entities with a source whose \(key.name) matches (compared through its blind index).")
        }
        let kind = "unified:\(model.name)"
        return GraphQLField(type: GraphQLNonNull(type), description: "The tenant's \(model.name) entities in change order.", args: args) { _, args, context, _ in
            let context = try Resolve.parent(context, as: GraphQLContext.self)
            let first = try Resolve.int(args, "first", in: pageRange, fallback: defaultPage)
            var after: Int64?
            if let cursor = args["after"].string {
                guard let key = ListCursor.decode(cursor, kind: kind), let sequence = Int64(key) else {
                    throw GraphQLError(message: "after is not a cursor this list returned", extensions: ["code": .string("invalid_input")])
                }
                after = sequence
            }
            let filters = model.identity.compactMap { key in args[key.name].string.map { (key, $0) } }
            guard filters.count <= 1 else {
                throw GraphQLError(message: "filter on one identity key at a time", extensions: ["code": .string("invalid_input")])
            }
            let entities = try await context.read("listing \(model.name) entities") {
                try await context.entities.entities(tenant: context.tenant, model: model.name, identity: filters.first,
                                                    after: after, limit: first + 1, actor: context.actor)
            }
            let shown = entities.prefix(first)
            return EntityPage(nodes: shown.map { EntityNode(view: EntityView($0, model: model), model: model) },
                              cursors: shown.map { ListCursor.encode(String($0.changeSequence), kind: kind) },
                              hasNextPage: entities.count > first)
        }
    }

    /// `record(connectionId:stream:externalId:)`: one stored record of the tenant.
    static func recordQuery(_ record: GraphQLObjectType) -> GraphQLField {
        GraphQLField(type: record, description: "One stored record; null when the tenant has none by that key.", args: [
            "connectionId": GraphQLArgument(type: GraphQLNonNull(GraphQLID)),
            "stream": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
            "externalId": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
        ]) { _, args, context, _ in
            let context = try Resolve.parent(context, as: GraphQLContext.self)
            guard let text = args["connectionId"].string, let connection = UUID(uuidString: text) else {
                throw GraphQLError(message: "connectionId must be a connection id (a UUID)", extensions: ["code": .string("invalid_input")])
            }
            let key = RecordKey(connection: connection, stream: args["stream"].string ?? "", externalID: args["externalId"].string ?? "")
            return try await context.read("reading a record") { try await context.record(key) }
        }
    }
}

/// The GraphQL type of a model field, from its JSON Schema, and how a stored value reads as it.
struct FieldKind: Sendable {
    enum Kind: Sendable { case string, number, boolean, json }
    let kind: Kind
    /// The schema's `JSON` scalar, for fields of no simpler type.
    let json: GraphQLScalarType

    init(schema: PyValue, field: String, json: GraphQLScalarType) {
        self.json = json
        var declared: [String] = []
        if case .dict(let root) = schema, case .dict(let properties)? = root["properties"], case .dict(let property)? = properties[.string(field)] {
            switch property["type"] {
            case .string(let name)?: declared = [name]
            case .list(let names)?: declared = names.compactMap { if case .string(let name) = $0, name != "null" { name } else { nil } }
            default: break
            }
        }
        switch declared {
        case ["string"]: kind = .string
        case ["number"], ["integer"]: kind = .number
        case ["boolean"]: kind = .boolean
        default: kind = .json
        }
    }

    var type: any GraphQLOutputType {
        switch kind {
        case .string: GraphQLString
        case .number: GraphQLFloat
        case .boolean: GraphQLBoolean
        case .json: json
        }
    }

    /// The value as this type reads it: a string field shows a number as its JSON text; a
    /// value that does not fit a number or boolean field (a masked one, `***`) reads as null.
    func value(_ value: JSONValue) -> (any Sendable)? {
        switch (kind, value) {
        case (_, .null): nil
        case (.string, .string(let text)): text
        case (.string, _): value.scalarText ?? value.canonicalJSON
        case (.number, .number(let number)): number
        case (.boolean, .bool(let bool)): bool
        case (.json, _): GraphQLValues.map(value)
        default: nil
        }
    }
}
