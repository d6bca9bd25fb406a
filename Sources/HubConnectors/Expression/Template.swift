/// A string with `{{ … }}` interpolations, parsed once (at registration) and rendered many
/// times. Statement tags `{% … %}` are refused: the manifests Tributary runs don't need them,
/// and an interpreter without loops has bounded running time.
public struct Template: Sendable {
    enum Part: Sendable {
        case text(String)
        case expression(Expression)
    }

    public let source: String
    let parts: [Part]

    /// True when the source has no interpolation at all.
    public var isPlain: Bool {
        if parts.isEmpty { return true }
        if parts.count == 1, case .text = parts[0] { return true }
        return false
    }

    public init(_ source: String) throws {
        self.source = source
        var parts: [Part] = []
        let scalars = Array(source.unicodeScalars)
        var text = String.UnicodeScalarView()
        var position = 0
        func flushText(stripTrailing: Bool = false) {
            var value = String(text)
            if stripTrailing { value = String(value.reversed().drop(while: \.isWhitespace).reversed()) }
            if !value.isEmpty { parts.append(.text(value)) }
            text = String.UnicodeScalarView()
        }
        var stripNextLeading = false
        while position < scalars.count {
            if scalars[position] == "{", position + 1 < scalars.count, ["{", "%", "#"].contains(scalars[position + 1]) {
                let kind = scalars[position + 1]
                if kind == "%" {
                    throw ExpressionError("statement tags ({% … %}) are not supported; use a {{ … }} expression")
                }
                var start = position + 2
                let stripBefore = start < scalars.count && scalars[start] == "-"
                if stripBefore { start += 1 }
                if kind == "#" {
                    guard let end = Self.find("#}", in: scalars, from: start) else { throw ExpressionError("unterminated comment {# … #}") }
                    flushText(stripTrailing: stripBefore)
                    position = end + 2
                    continue
                }
                let end = try Self.expressionEnd(scalars, from: start)
                var inner = String(String.UnicodeScalarView(scalars[start..<end]))
                let stripAfter = inner.hasSuffix("-")
                if stripAfter { inner.removeLast() }
                flushText(stripTrailing: stripBefore)
                parts.append(.expression(try ExpressionParser.parse(inner)))
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
        self.parts = parts
    }

    /// The variable names the template reads.
    public var variableNames: Set<String> {
        var names = Set<String>()
        for case .expression(let expression) in parts { expression.collectNames(into: &names) }
        return names
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

    /// Where the `}}` closing an expression starts: outside string literals and dict braces.
    private static func expressionEnd(_ scalars: [Unicode.Scalar], from start: Int) throws -> Int {
        var index = start
        var depth = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "'" || scalar == "\"" {
                index = try ExpressionLexer.readString(scalars, from: index).1
                continue
            }
            if scalar == "{" { depth += 1 }
            if scalar == "}" {
                if depth == 0, index + 1 < scalars.count, scalars[index + 1] == "}" { return index }
                depth -= 1
            }
            index += 1
        }
        throw ExpressionError("unterminated {{ … }} expression")
    }

    /// Renders every part with `str()`, as Jinja does.
    func render(_ context: ExpressionContext) throws -> String {
        var output = ""
        for part in parts {
            switch part {
            case .text(let text): output += text
            case .expression(let expression):
                let value = try Interpreter(context: context).evaluate(expression)
                output += try ExpressionLimits.str(value)
                try ExpressionLimits.checkSize(output.utf8.count, "rendering the template")
            }
        }
        return output
    }
}
