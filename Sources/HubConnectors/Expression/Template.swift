/// A string with `{{ … }}` interpolations and `{% … %}` statement tags (`if`/`elif`/`else`,
/// `for` with `else`, `set`), parsed once (at registration) and rendered many times. Loops are
/// bounded in total (`TemplateRenderer.maximumIterations`), so rendering stays bounded too;
/// tags that define or include templates (`macro`, `include`, …) are refused.
public struct Template: Sendable {
    /// What the scanner finds between the tags, with Jinja's `-` white-space control applied.
    private enum Token {
        case text(String)
        case expression(String)
        case statement(String)
    }

    public let source: String
    let nodes: [TemplateNode]

    /// True when the source has no interpolation at all.
    public var isPlain: Bool {
        if nodes.isEmpty { return true }
        if nodes.count == 1, case .text = nodes[0] { return true }
        return false
    }

    public init(_ source: String) throws {
        self.source = source
        var tokens = try Self.scan(source)[...]
        nodes = try Self.parseBlock(&tokens, until: [], depth: 0)
        if let leftover = tokens.first, case .statement(let text) = leftover {
            throw ExpressionError("unexpected {% \(text) %}: there is no block for it to close")
        }
    }

    private static func scan(_ source: String) throws -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(source.unicodeScalars)
        var text = String.UnicodeScalarView()
        var position = 0
        func flushText(stripTrailing: Bool = false) {
            var value = String(text)
            if stripTrailing { value = String(value.reversed().drop(while: \.isWhitespace).reversed()) }
            if !value.isEmpty { tokens.append(.text(value)) }
            text = String.UnicodeScalarView()
        }
        var stripNextLeading = false
        while position < scalars.count {
            if scalars[position] == "{", position + 1 < scalars.count, ["{", "%", "#"].contains(scalars[position + 1]) {
                let kind = scalars[position + 1]
                var start = position + 2
                let stripBefore = start < scalars.count && scalars[start] == "-"
                if stripBefore { start += 1 }
                if kind == "#" {
                    guard let end = Self.find("#}", in: scalars, from: start) else { throw ExpressionError("unterminated comment {# … #}") }
                    flushText(stripTrailing: stripBefore)
                    position = end + 2
                    continue
                }
                let end = try Self.tagEnd(scalars, from: start, closing: kind == "%" ? "%" : "}")
                var inner = String(String.UnicodeScalarView(scalars[start..<end]))
                let stripAfter = inner.hasSuffix("-")
                if stripAfter { inner.removeLast() }
                flushText(stripTrailing: stripBefore)
                tokens.append(kind == "%" ? .statement(String(inner.trimmingSpaces)) : .expression(inner))
                position = end + 2
                stripNextLeading = stripAfter
                continue
            }
            if stripNextLeading {
                if scalars[position].properties.isWhitespace { position += 1; continue }
                stripNextLeading = false
            }
            text.append(scalars[position])
            position += 1
        }
        // Jinja drops one trailing newline of a template (keep_trailing_newline is off).
        if text.last == "\n" { text.removeLast() }
        flushText()
        return tokens
    }

    /// Parses nodes until a statement whose keyword is in `terminators` (left unconsumed).
    private static func parseBlock(_ tokens: inout ArraySlice<Token>, until terminators: Set<String>, depth: Int) throws -> [TemplateNode] {
        // Parsing and rendering recurse once per block: bounded as expressions' nesting is.
        guard depth <= ExpressionLimits.maximumNesting else {
            throw ExpressionError("blocks nested more than \(ExpressionLimits.maximumNesting) deep")
        }
        var nodes: [TemplateNode] = []
        while let token = tokens.first {
            switch token {
            case .text(let text):
                tokens.removeFirst()
                nodes.append(.text(text))
            case .expression(let source):
                tokens.removeFirst()
                nodes.append(.expression(try ExpressionParser.parse(source)))
            case .statement(let statement):
                let (keyword, rest) = Self.keyword(statement)
                if terminators.contains(keyword) { return nodes }
                tokens.removeFirst()
                switch keyword {
                case "if": nodes.append(try parseIf(rest, &tokens, depth: depth + 1))
                case "for": nodes.append(try parseFor(rest, &tokens, depth: depth + 1))
                case "set": nodes.append(try parseSet(rest))
                case "elif", "else", "endif", "endfor":
                    throw ExpressionError("unexpected {% \(keyword) %}: there is no block for it to close")
                default:
                    throw ExpressionError("statement tag {% \(keyword) %} is not supported; if, elif, else, for and set are")
                }
            }
        }
        guard terminators.isEmpty else {
            throw ExpressionError("unterminated block: expected {% \(terminators.sorted().joined(separator: " or ")) %}")
        }
        return nodes
    }

    private static func keyword(_ statement: String) -> (String, String) {
        let keyword = statement.prefix { $0.isLetter || $0 == "_" }
        return (String(keyword), String(String(statement.dropFirst(keyword.count)).trimmingSpaces))
    }

    private static func nextKeyword(_ tokens: inout ArraySlice<Token>) -> (String, String)? {
        guard case .statement(let statement)? = tokens.first else { return nil }
        tokens.removeFirst()
        return keyword(statement)
    }

    private static func parseIf(_ test: String, _ tokens: inout ArraySlice<Token>, depth: Int) throws -> TemplateNode {
        var branches: [(test: Expression?, body: [TemplateNode])] = []
        var condition: Expression? = try ExpressionParser.parse(test)
        while true {
            let body = try parseBlock(&tokens, until: ["elif", "else", "endif"], depth: depth)
            branches.append((condition, body))
            guard let (keyword, rest) = nextKeyword(&tokens) else { throw ExpressionError("unterminated {% if %}: expected {% endif %}") }
            switch keyword {
            case "elif":
                guard branches.last?.test != nil else { throw ExpressionError("{% elif %} after {% else %}") }
                condition = try ExpressionParser.parse(rest)
            case "else":
                guard branches.last?.test != nil else { throw ExpressionError("a second {% else %} in one {% if %}") }
                condition = nil
            default:
                return .branches(branches)
            }
        }
    }

    private static func parseFor(_ header: String, _ tokens: inout ArraySlice<Token>, depth: Int) throws -> TemplateNode {
        guard let split = header.firstRange(of: " in ") else { throw ExpressionError("{% for %} expects `for NAME in ITERABLE`, found \(header)") }
        let targets = try names(String(header[..<split.lowerBound]), in: "{% for %}")
        let iterable = String(String(header[split.upperBound...]).trimmingSpaces)
        // Jinja's loop filters and recursive loops are refused rather than misread.
        if iterable.contains(/\s(if|recursive)(\s|$)/) {
            throw ExpressionError("{% for … if … %} and recursive loops are not supported")
        }
        let body = try parseBlock(&tokens, until: ["else", "endfor"], depth: depth)
        var otherwise: [TemplateNode] = []
        guard let (keyword, _) = nextKeyword(&tokens) else { throw ExpressionError("unterminated {% for %}: expected {% endfor %}") }
        if keyword == "else" {
            otherwise = try parseBlock(&tokens, until: ["endfor"], depth: depth)
            guard nextKeyword(&tokens) != nil else { throw ExpressionError("unterminated {% for %}: expected {% endfor %}") }
        }
        return .loop(targets: targets, iterable: try ExpressionParser.parse(iterable), body: body, otherwise: otherwise)
    }

    private static func parseSet(_ assignment: String) throws -> TemplateNode {
        guard let equals = assignment.firstIndex(of: "="), assignment[assignment.index(after: equals)...].first != "=" else {
            throw ExpressionError("{% set %} expects `set NAME = VALUE` (block assignments are not supported), found \(assignment)")
        }
        let targets = try names(String(assignment[..<equals]), in: "{% set %}")
        let value = try ExpressionParser.parse(String(assignment[assignment.index(after: equals)...]))
        if targets.count == 1, case .call(.attribute(.name(let list), "append"), let arguments, let keywords) = value,
           arguments.count == 1, keywords.isEmpty {
            return .append(target: list, value: arguments[0], result: targets[0])
        }
        return .assign(targets: targets, value: value)
    }

    private static func names(_ text: String, in tag: String) throws -> [String] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { String(String($0).trimmingSpaces) }
        for name in names where name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) || name.first!.isNumber {
            throw ExpressionError("\(tag) assigns to names only, found \(PyRepr.string(String(text.trimmingSpaces)))")
        }
        return names
    }

    /// The variable names the template reads from its context (not those it binds itself).
    public var variableNames: Set<String> {
        var reads = Set<String>(), binds = Set<String>()
        for node in nodes { node.collectNames(reads: &reads, binds: &binds) }
        return reads.subtracting(binds)
    }

    private static func find(_ needle: String, in scalars: [Unicode.Scalar], from start: Int) -> Int? {
        let target = Array(needle.unicodeScalars)
        var index = start
        while index + target.count <= scalars.count {
            if Array(scalars[index..<index + target.count]) == target { return index }
            index += 1
        }
        return nil
    }

    /// Where the `}}` (or `%}`) closing a tag starts: outside string literals and dict braces.
    private static func tagEnd(_ scalars: [Unicode.Scalar], from start: Int, closing: Unicode.Scalar) throws -> Int {
        var index = start
        var depth = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "'" || scalar == "\"" {
                index = try ExpressionLexer.readString(scalars, from: index).1
                continue
            }
            if depth == 0, scalar == closing, index + 1 < scalars.count, scalars[index + 1] == "}" { return index }
            if scalar == "{" { depth += 1 }
            if scalar == "}" { depth -= 1 }
            index += 1
        }
        throw ExpressionError(closing == "%" ? "unterminated {% … %} tag" : "unterminated {{ … }} expression")
    }

    /// Renders every node with `str()`, as Jinja does.
    func render(_ context: ExpressionContext) throws -> String {
        var renderer = TemplateRenderer(context)
        try renderer.render(nodes)
        return renderer.output
    }
}
