/// One piece of a parsed template: text, a `{{ … }}` expression, or a statement tag's block
/// (`{% if %}`, `{% for %}`, `{% set %}`), as Jinja renders them in the CDK's interpolations.
indirect enum TemplateNode: Sendable {
    case text(String)
    case expression(Expression)
    /// `if` / `elif` / `else`: the first branch whose test holds (a nil test is the `else`).
    case branches([(test: Expression?, body: [TemplateNode])])
    /// `for targets in iterable` … `else` … `endfor`.
    case loop(targets: [String], iterable: Expression, body: [TemplateNode], otherwise: [TemplateNode])
    /// `set targets = value`.
    case assign(targets: [String], value: Expression)
    /// `set _ = name.append(value)`: the one mutation Jinja manifests use, which Jinja performs
    /// on the shared list; here it changes the variable where it was defined.
    case append(target: String, value: Expression, result: String)

    /// Names the node reads, and names it binds (set and loop targets, `loop`).
    func collectNames(reads: inout Set<String>, binds: inout Set<String>) {
        switch self {
        case .text: break
        case .expression(let expression): expression.collectNames(into: &reads)
        case .branches(let branches):
            for branch in branches {
                branch.test?.collectNames(into: &reads)
                for node in branch.body { node.collectNames(reads: &reads, binds: &binds) }
            }
        case .loop(let targets, let iterable, let body, let otherwise):
            iterable.collectNames(into: &reads)
            binds.formUnion(targets)
            binds.insert("loop")
            for node in body + otherwise { node.collectNames(reads: &reads, binds: &binds) }
        case .assign(let targets, let value):
            value.collectNames(into: &reads)
            binds.formUnion(targets)
        case .append(let target, let value, let result):
            reads.insert(target)
            value.collectNames(into: &reads)
            binds.insert(result)
        }
    }
}

/// Renders template nodes with Jinja's scoping: a loop's body has a scope of its own each
/// time round (what it sets does not outlive it), an `if` does not. Loops are bounded in
/// total, and in time: each expression is bounded on its own, but ten thousand rounds of one
/// that copies a large list would still hold a worker for minutes.
struct TemplateRenderer {
    static let maximumIterations = 10_000
    static let timeBudget: Duration = .seconds(2)

    let base: ExpressionContext
    private var scopes: [[String: PyValue]] = [[:]]
    private var iterations = 0
    private var deadline: ContinuousClock.Instant?
    private(set) var output = ""

    init(_ context: ExpressionContext) {
        base = context
    }

    private var context: ExpressionContext {
        guard scopes.count > 1 || !scopes[0].isEmpty else { return base }
        var context = base
        for scope in scopes { for (name, value) in scope { context[name] = value } }
        return context
    }

    private func evaluate(_ expression: Expression) throws -> PyValue {
        try Interpreter(context: context).evaluate(expression)
    }

    mutating func render(_ nodes: [TemplateNode]) throws {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .expression(let expression):
                output += try ExpressionLimits.str(try evaluate(expression))
            case .branches(let branches):
                for branch in branches {
                    if let test = branch.test, !(try evaluate(test).isTruthy) { continue }
                    try render(branch.body)
                    break
                }
            case .loop(let targets, let iterable, let body, let otherwise):
                try renderLoop(targets: targets, items: Filters.items(of: try evaluate(iterable)), body: body, otherwise: otherwise)
            case .assign(let targets, let value):
                try bind(targets, to: try evaluate(value))
            case .append(let target, let value, let result):
                let item = try evaluate(value)
                guard case .list(var items) = context[target] ?? .none else {
                    throw ExpressionError("'\((context[target] ?? .none).typeName)' object has no attribute 'append'")
                }
                items.append(item)
                try ExpressionLimits.checkSize(items.count, "appending to a list")
                // Where the name was defined (Jinja mutates that list object); a context variable
                // changes for the rest of this rendering only.
                let level = scopes.lastIndex { $0[target] != nil } ?? 0
                scopes[level][target] = .list(items)
                scopes[scopes.count - 1][result] = PyValue.none
            }
            try ExpressionLimits.checkSize(output.utf8.count, "rendering the template")
        }
    }

    private mutating func renderLoop(targets: [String], items: [PyValue], body: [TemplateNode], otherwise: [TemplateNode]) throws {
        guard !items.isEmpty else { return try render(otherwise) }
        for (index, item) in items.enumerated() {
            iterations += 1
            guard iterations <= Self.maximumIterations else {
                throw ExpressionError("the template's loops ran more than \(Self.maximumIterations) times")
            }
            // The clock starts with the first loop: a template without one never reads it.
            let now = ContinuousClock.now
            if deadline == nil { deadline = now + Self.timeBudget }
            if let deadline, now > deadline {
                throw ExpressionError("the template's loops ran longer than \(Self.timeBudget)")
            }
            scopes.append([:])
            defer { scopes.removeLast() }
            var loop = PyDict()
            loop["index"] = .int(index + 1)
            loop["index0"] = .int(index)
            loop["revindex"] = .int(items.count - index)
            loop["revindex0"] = .int(items.count - index - 1)
            loop["first"] = .bool(index == 0)
            loop["last"] = .bool(index == items.count - 1)
            loop["length"] = .int(items.count)
            scopes[scopes.count - 1]["loop"] = .dict(loop)
            try bind(targets, to: item)
            try render(body)
        }
    }

    private mutating func bind(_ targets: [String], to value: PyValue) throws {
        guard targets.count > 1 else {
            scopes[scopes.count - 1][targets[0]] = value
            return
        }
        let parts: [PyValue]
        switch value {
        case .list(let items), .tuple(let items): parts = items
        default: throw ExpressionError("cannot unpack a non-sequence \(value.typeName) into \(targets.count) names")
        }
        guard parts.count == targets.count else {
            throw ExpressionError("expected \(targets.count) values to unpack, found \(parts.count)")
        }
        for (name, part) in zip(targets, parts) { scopes[scopes.count - 1][name] = part }
    }
}
