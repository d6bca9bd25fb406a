import Foundation
import GraphQL
import HubConnectors
import HubCore
import HubStore
import HubSync

/// The values resolvers pass down the tree: each object type of the schema reads one.
struct EntityNode: Sendable {
    let view: EntityView
    let model: UnifiedModel
}

struct SourceNode: Sendable {
    let source: EntityReader.Source
}

struct FieldSourceNode: Sendable {
    let field: String
    let source: SourceNode
}

struct RecordNode: Sendable {
    let record: StoredRecord
}

/// A page of entities, as a Relay cursor connection.
struct EntityPage: Sendable {
    let nodes: [EntityNode]
    let cursors: [String]
    let hasNextPage: Bool
}

struct EdgeNode: Sendable {
    let cursor: String
    let node: EntityNode
}

/// Fields with resolvers that read their parent as `Parent`: the executor hands resolvers
/// `any Sendable`, and a parent of another type is a bug of the schema, not of the request.
enum Resolve {
    static func parent<Parent>(_ source: any Sendable, as _: Parent.Type) throws -> Parent {
        guard let parent = source as? Parent else { throw GraphQLError(message: "internal error: unexpected \(type(of: source)) for \(Parent.self)") }
        return parent
    }

    static func field<Parent>(_ type: any GraphQLOutputType, _ description: String? = nil,
                              _ get: @escaping @Sendable (Parent) -> (any Sendable)?) -> GraphQLField {
        GraphQLField(type: type, description: description) { source, _, _, _ in get(try parent(source, as: Parent.self)) }
    }

    /// An `Int` argument bounded to `range`, `fallback` when absent; out of range is an error
    /// that names the argument and the range.
    static func int(_ args: Map, _ name: String, in range: ClosedRange<Int>, fallback: Int) throws -> Int {
        let value = args[name]
        if value.isUndefined || value.isNull { return fallback }
        guard let number = value.int, range.contains(number) else {
            throw GraphQLError(message: "\(name) must be between \(range.lowerBound) and \(range.upperBound)",
                               extensions: ["code": .string("invalid_input")])
        }
        return number
    }
}
