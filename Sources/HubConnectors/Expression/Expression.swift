/// A parsed Jinja expression (the inside of one `{{ … }}`).
indirect enum Expression: Sendable {
    case literal(PyValue)
    case name(String)
    case list([Expression])
    case tuple([Expression])
    case dict([(Expression, Expression)])
    case attribute(Expression, String)
    case `subscript`(Expression, Expression)
    case slice(Expression, Expression?, Expression?, Expression?)
    case call(Expression, [Expression], [(String, Expression)])
    case filter(Expression, String, [Expression], [(String, Expression)])
    case test(Expression, String, [Expression], negated: Bool)
    case negate(Expression)
    case positive(Expression)
    case not(Expression)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case binary(String, Expression, Expression)
    case compare(Expression, [(String, Expression)])
    case concat([Expression])
    case conditional(Expression, then: Expression, else: Expression?)

    /// The expressions this one is made of.
    var children: [Expression] {
        switch self {
        case .literal, .name: return []
        case .list(let items), .tuple(let items), .concat(let items): return items
        case .dict(let pairs): return pairs.flatMap { [$0.0, $0.1] }
        case .attribute(let base, _), .negate(let base), .positive(let base), .not(let base): return [base]
        case .subscript(let base, let index): return [base, index]
        case .slice(let base, let a, let b, let c): return [base] + [a, b, c].compactMap { $0 }
        case .call(let callee, let args, let kwargs), .filter(let callee, _, let args, let kwargs):
            return [callee] + args + kwargs.map(\.1)
        case .test(let base, _, let args, _): return [base] + args
        case .and(let a, let b), .or(let a, let b), .binary(_, let a, let b): return [a, b]
        case .compare(let first, let rest): return [first] + rest.map(\.1)
        case .conditional(let test, let then, let otherwise): return [test, then] + (otherwise.map { [$0] } ?? [])
        }
    }

    /// How deep the tree is, measured without recursion (a tree too deep to evaluate must not
    /// overflow the stack while it is being measured).
    var depth: Int {
        var deepest = 0
        var pending: [(Expression, Int)] = [(self, 1)]
        while let (node, level) = pending.popLast() {
            deepest = Swift.max(deepest, level)
            pending.append(contentsOf: node.children.map { ($0, level + 1) })
        }
        return deepest
    }

    /// The variables the expression reads, as `jinja2.meta.find_undeclared_variables` reports
    /// them: the CDK refuses a template naming one that is not in its context.
    func collectNames(into names: inout Set<String>) {
        switch self {
        case .literal: break
        case .name(let name): names.insert(name)
        case .list(let items), .tuple(let items), .concat(let items): items.forEach { $0.collectNames(into: &names) }
        case .dict(let pairs): pairs.forEach { $0.0.collectNames(into: &names); $0.1.collectNames(into: &names) }
        case .attribute(let base, _), .negate(let base), .positive(let base), .not(let base): base.collectNames(into: &names)
        case .subscript(let base, let index): base.collectNames(into: &names); index.collectNames(into: &names)
        case .slice(let base, let a, let b, let c):
            base.collectNames(into: &names)
            [a, b, c].forEach { $0?.collectNames(into: &names) }
        case .call(let callee, let args, let kwargs), .filter(let callee, _, let args, let kwargs):
            callee.collectNames(into: &names)
            args.forEach { $0.collectNames(into: &names) }
            kwargs.forEach { $0.1.collectNames(into: &names) }
        case .test(let base, _, let args, _):
            base.collectNames(into: &names)
            args.forEach { $0.collectNames(into: &names) }
        case .and(let a, let b), .or(let a, let b), .binary(_, let a, let b):
            a.collectNames(into: &names); b.collectNames(into: &names)
        case .compare(let first, let rest):
            first.collectNames(into: &names)
            rest.forEach { $0.1.collectNames(into: &names) }
        case .conditional(let test, let then, let otherwise):
            test.collectNames(into: &names); then.collectNames(into: &names); otherwise?.collectNames(into: &names)
        }
    }
}

/// Jinja's expression grammar, precedence lowest first: conditional, `or`, `and`, `not`,
/// comparisons, `+ -`, `~`, `* / // %`, `**`, unary, then postfix (`.a`, `[i]`, calls) with
/// filters and tests.
struct ExpressionParser {
    private var tokens: [ExpressionToken]
    private var position = 0
    /// How many nested constructs the parser is inside (see `ExpressionLimits.maximumNesting`).
    private var nesting = 0

    static func parse(_ source: String) throws -> Expression {
        var parser = ExpressionParser(tokens: try ExpressionLexer.tokenize(source))
        let expression = try parser.parseTuple(allowEmpty: false)
        guard parser.current == .end else { throw ExpressionError("unexpected \(parser.describe(parser.current)) in expression") }
        guard expression.depth <= ExpressionLimits.maximumDepth else {
            throw ExpressionError("the expression nests more than \(ExpressionLimits.maximumDepth) operations deep")
        }
        return expression
    }

    /// Enters one more nested construct, refusing past the limit before the stack runs out.
    private mutating func enter() throws {
        nesting += 1
        guard nesting <= ExpressionLimits.maximumNesting else {
            throw ExpressionError("the expression nests brackets or operators more than \(ExpressionLimits.maximumNesting) deep")
        }
    }

    private init(tokens: [ExpressionToken]) { self.tokens = tokens }

    private var current: ExpressionToken { tokens[position] }
    private mutating func advance() { position += 1 }

    private func describe(_ token: ExpressionToken) -> String {
        switch token {
        case .name(let name): return "name '\(name)'"
        case .int(let value): return "number \(value)"
        case .float(let value): return "number \(value)"
        case .string(let value): return "string \(PyRepr.string(value))"
        case .op(let op): return "'\(op)'"
        case .end: return "end of expression"
        }
    }

    private mutating func skip(_ op: String) -> Bool {
        if current == .op(op) { advance(); return true }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if current == .name(name) { advance(); return true }
        return false
    }

    private mutating func expect(_ op: String) throws {
        guard skip(op) else { throw ExpressionError("expected '\(op)', found \(describe(current))") }
    }

    private mutating func parseTuple(allowEmpty: Bool) throws -> Expression {
        var items: [Expression] = []
        var sawComma = false
        while true {
            if !items.isEmpty || allowEmpty, [.op(")"), .end, .op("]")].contains(current) { break }
            items.append(try parseExpression())
            if skip(",") { sawComma = true } else { break }
        }
        if items.count == 1, !sawComma { return items[0] }
        return .tuple(items)
    }

    mutating func parseExpression() throws -> Expression {
        try enter()
        defer { nesting -= 1 }
        let expression = try parseOr()
        if skipName("if") {
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseExpression() : nil
            return .conditional(test, then: expression, else: otherwise)
        }
        return expression
    }

    private mutating func parseOr() throws -> Expression {
        var left = try parseAnd()
        while skipName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> Expression {
        var left = try parseNot()
        while skipName("and") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> Expression {
        if current == .name("not") {
            advance()
            try enter()
            defer { nesting -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expression {
        let first = try parseMath1()
        var rest: [(String, Expression)] = []
        while true {
            if case .op(let op) = current, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
                advance()
                rest.append((op, try parseMath1()))
            } else if skipName("in") {
                rest.append(("in", try parseMath1()))
            } else if current == .name("not"), tokens[position + 1] == .name("in") {
                advance(); advance()
                rest.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return rest.isEmpty ? first : .compare(first, rest)
    }

    private mutating func parseMath1() throws -> Expression {
        var left = try parseConcat()
        while case .op(let op) = current, op == "+" || op == "-" {
            advance()
            left = .binary(op, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> Expression {
        var items = [try parseMath2()]
        while skip("~") { items.append(try parseMath2()) }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func parseMath2() throws -> Expression {
        var left = try parsePow()
        while case .op(let op) = current, ["*", "/", "//", "%"].contains(op) {
            advance()
            left = .binary(op, left, try parsePow())
        }
        return left
    }

    private mutating func parsePow() throws -> Expression {
        var left = try parseUnary(withFilter: true)
        while skip("**") { left = .binary("**", left, try parseUnary(withFilter: true)) }
        return left
    }

    private mutating func parseUnary(withFilter: Bool) throws -> Expression {
        var node: Expression
        try enter()
        defer { nesting -= 1 }
        if skip("-") {
            node = .negate(try parseUnary(withFilter: false))
        } else if skip("+") {
            node = .positive(try parseUnary(withFilter: false))
        } else {
            node = try parsePostfix(try parsePrimary())
        }
        if withFilter { node = try parseFilters(node) }
        return node
    }

    private mutating func parsePrimary() throws -> Expression {
        let token = current
        advance()
        switch token {
        case .name(let name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name)
            }
        case .int(let value): return .literal(.int(value))
        case .float(let value): return .literal(.float(value))
        case .string(var value):
            // Adjacent string literals concatenate, as in Python and Jinja.
            while case .string(let next) = current { value += next; advance() }
            return .literal(.string(value))
        case .op("("):
            let inner = try parseTuple(allowEmpty: true)
            try expect(")")
            return inner
        case .op("["):
            var items: [Expression] = []
            while current != .op("]") {
                items.append(try parseExpression())
                if !skip(",") { break }
            }
            try expect("]")
            return .list(items)
        case .op("{"):
            var pairs: [(Expression, Expression)] = []
            while current != .op("}") {
                let key = try parseExpression()
                try expect(":")
                pairs.append((key, try parseExpression()))
                if !skip(",") { break }
            }
            try expect("}")
            return .dict(pairs)
        default:
            throw ExpressionError("unexpected \(describe(token)) in expression")
        }
    }

    private mutating func parsePostfix(_ base: Expression) throws -> Expression {
        var node = base
        while true {
            if skip(".") {
                switch current {
                case .name(let name): advance(); node = .attribute(node, name)
                case .int(let index): advance(); node = .subscript(node, .literal(.int(index)))
                default: throw ExpressionError("expected an attribute name after '.', found \(describe(current))")
                }
            } else if skip("[") {
                node = try parseSubscript(node)
            } else if current == .op("(") {
                advance()
                let (args, kwargs) = try parseArguments()
                node = .call(node, args, kwargs)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ base: Expression) throws -> Expression {
        var parts: [Expression?] = [nil]
        var isSlice = false
        while current != .op("]") {
            if skip(":") {
                isSlice = true
                parts.append(nil)
                continue
            }
            parts[parts.count - 1] = try parseExpression()
            if current != .op(":") && current != .op("]") {
                throw ExpressionError("expected ':' or ']' in subscript, found \(describe(current))")
            }
        }
        try expect("]")
        if isSlice {
            while parts.count < 3 { parts.append(nil) }
            return .slice(base, parts[0], parts[1], parts[2])
        }
        guard let index = parts[0] else { throw ExpressionError("empty subscript") }
        return .subscript(base, index)
    }

    /// Call arguments after the opening parenthesis, through the closing one.
    private mutating func parseArguments() throws -> ([Expression], [(String, Expression)]) {
        var args: [Expression] = []
        var kwargs: [(String, Expression)] = []
        while current != .op(")") {
            if case .name(let name) = current, tokens[position + 1] == .op("=") {
                advance(); advance()
                kwargs.append((name, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
            if !skip(",") { break }
        }
        try expect(")")
        return (args, kwargs)
    }

    private mutating func parseFilters(_ base: Expression) throws -> Expression {
        var node = base
        while true {
            if skip("|") {
                guard case .name(var name) = current else { throw ExpressionError("expected a filter name after '|'") }
                advance()
                while skip(".") {
                    guard case .name(let part) = current else { throw ExpressionError("expected a filter name") }
                    advance()
                    name += "." + part
                }
                var args: [Expression] = [], kwargs: [(String, Expression)] = []
                if skip("(") { (args, kwargs) = try parseArguments() }
                node = .filter(node, name, args, kwargs)
            } else if skipName("is") {
                let negated = skipName("not")
                guard case .name(let name) = current else { throw ExpressionError("expected a test name after 'is'") }
                advance()
                var args: [Expression] = []
                if skip("(") {
                    args = try parseArguments().0
                } else if case .name(let next) = current, !["and", "or", "else", "if", "is", "in", "not"].contains(next) {
                    args = [try parsePostfix(try parsePrimary())]
                } else if case .int = current {
                    args = [try parsePrimary()]
                } else if case .string = current {
                    args = [try parsePrimary()]
                }
                node = .test(node, name, args, negated: negated)
            } else if current == .op("(") {
                advance()
                let (args, kwargs) = try parseArguments()
                node = .call(node, args, kwargs)
            } else {
                return node
            }
        }
    }
}
