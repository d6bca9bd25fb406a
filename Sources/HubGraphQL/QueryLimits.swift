import GraphQL
import OrderedCollections

/// What a field costs beyond one: how many items a list field stands for, and the fields
/// that read the database on their own (one read per parent).
struct QueryCosts: Sendable {
    /// A field that reads the database once per parent item: priced so that one request
    /// makes at most 250 such reads (the executor runs a list's items at once, and they share
    /// the pool with every other tenant's requests).
    static let databaseRead = 20

    enum ListSize: Sendable {
        /// As many as the argument asks for (bounded to the page range), `fallback` without it.
        case argument(String, fallback: Int)
        case fixed(Int)
    }

    /// By `Type.field`.
    var lists: [String: ListSize] = [:]
    var extra: [String: Int] = [:]
    /// A list no argument bounds (introspection's `types`, `fields`, …): as long as the
    /// longest such list of this schema can be.
    var unboundedList = 10
}

/// The limits a query is held to before it runs: nesting depth, fields selected (with every
/// fragment spread expanded, so a few lines of nested fragments cannot stand for millions),
/// and cost: every object a query may return counts once for each item of the lists above
/// it, and a database read twenty times. One walk of the operation, before validation: the
/// validator itself is quadratic in the fields selected. The text's bracket nesting is
/// checked before it is even parsed: the parser recurses once per level.
struct QueryLimits: Sendable {
    var maxDepth = 15
    var maxSelections = 2_000
    var maxCost = 5_000
    /// Brackets (`{`, `[`, `(`) open at once in the text; far more than `maxDepth` allows a
    /// query to use, far less than would exhaust the parser's stack.
    var maxNesting = 64

    struct Exceeded: Error, CustomStringConvertible {
        let description: String
        let code: String
    }

    /// Refuses a text whose brackets nest deeper than `maxNesting`, strings and comments aside.
    func checkNesting(_ text: String) throws {
        let bytes = Array(text.utf8)
        let quote = UInt8(ascii: "\"")
        func isBlockQuote(_ index: Int) -> Bool {
            index + 2 < bytes.count && bytes[index] == quote && bytes[index + 1] == quote && bytes[index + 2] == quote
        }
        var depth = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "#") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n"), bytes[index] != UInt8(ascii: "\r") { index += 1 }
            } else if isBlockQuote(index) {
                index += 3
                while index < bytes.count, !isBlockQuote(index) {
                    index += bytes[index] == UInt8(ascii: "\\") && isBlockQuote(index + 1) ? 4 : 1
                }
                index += 3
                continue
            } else if byte == quote {
                index += 1
                while index < bytes.count, bytes[index] != quote, bytes[index] != UInt8(ascii: "\n") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "(") {
                depth += 1
                if depth > maxNesting {
                    throw Exceeded(description: "the query nests brackets deeper than \(maxNesting) levels", code: "query_too_deep")
                }
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ")") {
                depth -= 1
            }
            index += 1
        }
    }

    /// The query's cost; throws `Exceeded` at the first limit it passes.
    func check(_ document: Document, operationName: String?, schema: GraphQLSchema, costs: QueryCosts, variables: [String: Map]) throws -> Int {
        let operations = document.definitions.compactMap { $0 as? OperationDefinition }
        let fragments = Dictionary(document.definitions.compactMap { $0 as? FragmentDefinition }.map { ($0.name.value, $0) },
                                   uniquingKeysWith: { first, _ in first })
        // Which operation runs is the executor's to decide; the limits hold each one named.
        var total = 0
        for operation in operations where operationName == nil || operation.name?.value == operationName {
            // A variable the request leaves out takes its default, as the executor will.
            var values = variables
            for definition in operation.variableDefinitions where values[definition.variable.name.value] == nil {
                if let literal = definition.defaultValue as? IntValue, let number = Int(literal.value) {
                    values[definition.variable.name.value] = .int(number)
                }
            }
            var walk = Walk(limits: self, schema: schema, costs: costs, variables: values, fragments: fragments)
            let root: GraphQLObjectType? = switch operation.operation {
            case .query: schema.queryType
            case .mutation: schema.mutationType
            case .subscription: schema.subscriptionType
            }
            var seen: [String: String] = [:]
            try walk.visit(operation.selectionSet, type: root, depth: 1, multiplier: 1, spreading: [], seen: &seen)
            if let overBudget = walk.overBudget { throw Exceeded(description: overBudget, code: "query_too_costly") }
            total = max(total, walk.cost)
        }
        return total
    }

    /// `a + b` and `a * b`, stopping at a ceiling no budget reaches instead of trapping.
    static let ceiling = Int.max / 4
    static func add(_ a: Int, _ b: Int) -> Int { min(ceiling, a &+ b < a ? ceiling : a + b) }
    static func multiply(_ a: Int, _ b: Int) -> Int {
        let product = a.multipliedReportingOverflow(by: b)
        return product.overflow ? ceiling : min(ceiling, product.partialValue)
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

        /// `seen` holds the response keys of this selection set (its fragments' included) with
        /// their fields and arguments: GraphQL merges fields of one key, and the executor runs
        /// the first one's arguments over every one's selections, so a key asked twice with
        /// other arguments could be priced at the cheap one and run as the costly one.
        mutating func visit(_ set: SelectionSet, type: (any GraphQLCompositeType)?, depth: Int, multiplier: Int, spreading: [String],
                            seen: inout [String: String]) throws {
            for selection in set.selections {
                selections += 1
                if selections > limits.maxSelections {
                    throw Exceeded(description: "the query selects more than \(limits.maxSelections) fields (counting each fragment where it is spread)",
                                   code: "query_too_large")
                }
                switch selection {
                case let field as Field:
                    let key = field.alias?.value ?? field.name.value
                    let signature = field.name.value + "(" + field.arguments.map { "\($0.name.value):\(print(ast: $0.value))" }.sorted().joined(separator: ",") + ")"
                    if let earlier = seen[key], earlier != signature {
                        throw Exceeded(description: "\(key) is selected twice with different fields or arguments (\(earlier) and \(signature)); give each its own alias",
                                       code: "query_conflict")
                    }
                    seen[key] = signature
                    try visit(field, parent: type, depth: depth, multiplier: multiplier, spreading: spreading)
                case let spread as FragmentSpread:
                    let name = spread.name.value
                    // A cycle is the validator's to report; here it must only not recurse forever.
                    guard !spreading.contains(name), let fragment = fragments[name] else { continue }
                    let condition = schema.getType(name: fragment.typeCondition.name.value) as? any GraphQLCompositeType
                    try visit(fragment.selectionSet, type: condition ?? type, depth: depth, multiplier: multiplier,
                              spreading: spreading + [name], seen: &seen)
                case let inline as InlineFragment:
                    let condition = inline.typeCondition.flatMap { schema.getType(name: $0.name.value) as? any GraphQLCompositeType }
                    try visit(inline.selectionSet, type: condition ?? type, depth: depth, multiplier: multiplier, spreading: spreading, seen: &seen)
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
            case nil: if fieldType.map(isList) ?? false { items = costs.unboundedList }
            }
            let inner = QueryLimits.multiply(multiplier, items)
            let added = QueryLimits.add(QueryLimits.multiply(multiplier, QueryLimits.add(1, costs.extra[key] ?? 0)), inner - min(inner, multiplier))
            // Introspection is answered from memory: it has a budget of its own, ten times the
            // data's, which the usual introspection query fits and nested `fields { type {
            // fields … } }` do not.
            if name.hasPrefix("__") || typeName?.hasPrefix("__") == true {
                introspectionCost = QueryLimits.add(introspectionCost, added)
                if introspectionCost > limits.maxCost * 10, overBudget == nil {
                    overBudget = "the query's introspection could return more than its limit of \(limits.maxCost * 10) (at \(name))"
                }
            } else {
                cost = QueryLimits.add(cost, added)
                if cost > limits.maxCost, overBudget == nil {
                    overBudget = "the query could return more than its limit of \(limits.maxCost) (at \(name)): ask for smaller pages with `first` or fewer nested lists"
                }
            }
            let child = getNamedType(type: fieldType) as? any GraphQLCompositeType
            var seen: [String: String] = [:]
            try visit(selectionSet, type: child, depth: depth + 1, multiplier: inner, spreading: spreading, seen: &seen)
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
