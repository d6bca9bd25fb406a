import GraphQL
import OrderedCollections

/// What a field costs beyond one: how many items a list field stands for, and the fields
/// that read the database on their own (one read per parent).
struct QueryCosts: Sendable {
    /// A field that reads the database once per parent item.
    static let databaseRead = 10
    /// A list whose size no argument bounds (introspection's `types`, `fields`, …).
    static let unboundedList = 10

    enum ListSize: Sendable {
        /// As many as the argument asks for (bounded to the page range), `fallback` without it.
        case argument(String, fallback: Int)
        case fixed(Int)
    }

    /// By `Type.field`.
    var lists: [String: ListSize] = [:]
    var extra: [String: Int] = [:]
}

/// The limits a query is held to before it runs: nesting depth, fields selected (with every
/// fragment spread expanded, so a few lines of nested fragments cannot stand for millions),
/// and cost: every object a query may return counts once for each item of the lists above
/// it, and a database read ten times. One walk of the operation, before validation: the
/// validator itself is quadratic in the fields selected.
struct QueryLimits: Sendable {
    var maxDepth = 15
    var maxSelections = 2_000
    var maxCost = 5_000

    struct Exceeded: Error, CustomStringConvertible {
        let description: String
        let code: String
    }

    /// The query's cost; throws `Exceeded` at the first limit it passes.
    func check(_ document: Document, operationName: String?, schema: GraphQLSchema, costs: QueryCosts, variables: [String: Map]) throws -> Int {
        let operations = document.definitions.compactMap { $0 as? OperationDefinition }
        let fragments = Dictionary(document.definitions.compactMap { $0 as? FragmentDefinition }.map { ($0.name.value, $0) },
                                   uniquingKeysWith: { first, _ in first })
        // Which operation runs is the executor's to decide; the limits hold each one named.
        var total = 0
        for operation in operations where operationName == nil || operation.name?.value == operationName {
            var walk = Walk(limits: self, schema: schema, costs: costs, variables: variables, fragments: fragments)
            let root: GraphQLObjectType? = switch operation.operation {
            case .query: schema.queryType
            case .mutation: schema.mutationType
            case .subscription: schema.subscriptionType
            }
            try walk.visit(operation.selectionSet, type: root, depth: 1, multiplier: 1, spreading: [])
            if let overBudget = walk.overBudget { throw Exceeded(description: overBudget, code: "query_too_costly") }
            total = max(total, walk.cost)
        }
        return total
    }

    private struct Walk {
        let limits: QueryLimits
        let schema: GraphQLSchema
        let costs: QueryCosts
        let variables: [String: Map]
        let fragments: [String: FragmentDefinition]
        var selections = 0
        var cost = 0
        var introspectionCost = 0
        /// The first budget passed. Reported after the walk: depth and size come first, as the
        /// cause a client can act on.
        var overBudget: String?

        mutating func visit(_ set: SelectionSet, type: (any GraphQLCompositeType)?, depth: Int, multiplier: Int, spreading: [String]) throws {
            for selection in set.selections {
                selections += 1
                if selections > limits.maxSelections {
                    throw Exceeded(description: "the query selects more than \(limits.maxSelections) fields (counting each fragment where it is spread)",
                                   code: "query_too_large")
                }
                switch selection {
                case let field as Field:
                    try visit(field, parent: type, depth: depth, multiplier: multiplier, spreading: spreading)
                case let spread as FragmentSpread:
                    let name = spread.name.value
                    // A cycle is the validator's to report; here it must only not recurse forever.
                    guard !spreading.contains(name), let fragment = fragments[name] else { continue }
                    let condition = schema.getType(name: fragment.typeCondition.name.value) as? any GraphQLCompositeType
                    try visit(fragment.selectionSet, type: condition ?? type, depth: depth, multiplier: multiplier, spreading: spreading + [name])
                case let inline as InlineFragment:
                    let condition = inline.typeCondition.flatMap { schema.getType(name: $0.name.value) as? any GraphQLCompositeType }
                    try visit(inline.selectionSet, type: condition ?? type, depth: depth, multiplier: multiplier, spreading: spreading)
                default:
                    continue
                }
            }
        }

        mutating func visit(_ field: Field, parent: (any GraphQLCompositeType)?, depth: Int, multiplier: Int, spreading: [String]) throws {
            if depth > limits.maxDepth {
                throw Exceeded(description: "the query nests deeper than \(limits.maxDepth) levels (at \(field.name.value))", code: "query_too_deep")
            }
            let name = field.name.value
            let (typeName, fieldType) = lookUp(name, in: parent)
            guard let selectionSet = field.selectionSet else { return }
            let key = "\(typeName ?? "").\(name)"
            // A connection field stands for its page, though its own type is no list.
            var items = 1
            switch costs.lists[key] {
            case .argument(let argument, let fallback)?: items = size(of: argument, in: field) ?? fallback
            case .fixed(let count)?: items = count
            case nil: if fieldType.map(isList) ?? false { items = QueryCosts.unboundedList }
            }
            // Saturating: a product of many lists must not overflow before the limit stops it.
            let reached = multiplier.multipliedReportingOverflow(by: items)
            let inner = reached.overflow ? Int.max / 4 : min(reached.partialValue, Int.max / 4)
            let added = min(Int.max / 4, multiplier * (1 + (costs.extra[key] ?? 0)) + (inner - multiplier))
            // Introspection is answered from memory: it has a budget of its own, ten times the
            // data's, which the usual introspection query fits and nested `fields { type {
            // fields … } }` do not.
            if name.hasPrefix("__") || typeName?.hasPrefix("__") == true {
                introspectionCost = min(Int.max / 4, introspectionCost + added)
                if introspectionCost > limits.maxCost * 10, overBudget == nil {
                    overBudget = "the query's introspection could return more than its limit of \(limits.maxCost * 10) (at \(name))"
                }
            } else {
                cost = min(Int.max / 4, cost + added)
                if cost > limits.maxCost, overBudget == nil {
                    overBudget = "the query could return more than its limit of \(limits.maxCost) (at \(name), cost \(cost)): ask for smaller pages with `first` or fewer nested lists"
                }
            }
            let child = getNamedType(type: fieldType) as? any GraphQLCompositeType
            try visit(selectionSet, type: child, depth: depth + 1, multiplier: inner, spreading: spreading)
        }

        /// The field's parent type name and its type, introspection's own included; nil for a
        /// field the schema lacks (the validator reports it).
        func lookUp(_ name: String, in parent: (any GraphQLCompositeType)?) -> (String?, (any GraphQLOutputType)?) {
            switch name {
            case "__schema": return (nil, schema.getType(name: "__Schema") as? any GraphQLOutputType)
            case "__type": return (nil, schema.getType(name: "__Type") as? any GraphQLOutputType)
            default: break
            }
            guard let object = parent as? GraphQLObjectType, let fields = try? object.fields() else {
                if let interface = parent as? GraphQLInterfaceType, let fields = try? interface.fields() {
                    return (interface.name, fields[name]?.type)
                }
                return (nil, nil)
            }
            return (object.name, fields[name]?.type)
        }

        func isList(_ type: any GraphQLOutputType) -> Bool {
            var current: any GraphQLType = type
            while let nonNull = current as? GraphQLNonNull { current = nonNull.ofType }
            return current is GraphQLList
        }

        /// A page-size argument as the resolver will see it, bounded as the resolver bounds it.
        func size(of argument: String, in field: Field) -> Int? {
            guard let value = field.arguments.first(where: { $0.name.value == argument })?.value else { return nil }
            let number: Int? = switch value {
            case let literal as IntValue: Int(literal.value)
            case let variable as Variable: variables[variable.name.value]?.int
            default: nil
            }
            return number.map { min(max($0, UnifiedSchema.pageRange.lowerBound), UnifiedSchema.pageRange.upperBound) }
        }
    }
}
