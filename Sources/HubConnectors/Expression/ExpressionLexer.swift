import Foundation

/// A token of a Jinja expression.
enum ExpressionToken: Equatable {
    case name(String)
    case int(Int)
    case float(Double)
    case string(String)
    case op(String)
    case end
}

/// Splits the inside of `{{ … }}` into tokens, with Jinja's literal syntax (Python-like
/// strings with escapes, `_` in numbers).
struct ExpressionLexer {
    private static let operators = ["**", "//", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ".",
                                    ":", "|", "~", "+", "-", "*", "/", "%", "<", ">", "="]

    static func tokenize(_ source: String) throws -> [ExpressionToken] {
        let characters = Array(source.unicodeScalars)
        var tokens: [ExpressionToken] = []
        var position = 0
        while position < characters.count {
            let character = characters[position]
            if character.properties.isWhitespace { position += 1; continue }
            guard tokens.count < ExpressionLimits.maximumTokens else {
                throw ExpressionError("the expression has more than \(ExpressionLimits.maximumTokens) tokens")
            }
            if character == "_" || character.properties.isAlphabetic {
                var end = position
                while end < characters.count, characters[end] == "_" || characters[end].properties.isAlphabetic
                        || ("0"..."9").contains(characters[end]) { end += 1 }
                tokens.append(.name(String(String.UnicodeScalarView(characters[position..<end]))))
                position = end
                continue
            }
            if ("0"..."9").contains(character)
                || (character == "." && position + 1 < characters.count && ("0"..."9").contains(characters[position + 1])) {
                var end = position
                var isFloat = false
                while end < characters.count {
                    let scalar = characters[end]
                    if ("0"..."9").contains(scalar) || scalar == "_" { end += 1; continue }
                    if scalar == ".", !isFloat, end + 1 < characters.count, ("0"..."9").contains(characters[end + 1]) {
                        isFloat = true; end += 1; continue
                    }
                    if scalar == "e" || scalar == "E" {
                        var exponentEnd = end + 1
                        if exponentEnd < characters.count, characters[exponentEnd] == "+" || characters[exponentEnd] == "-" { exponentEnd += 1 }
                        if exponentEnd < characters.count, ("0"..."9").contains(characters[exponentEnd]) {
                            isFloat = true
                            end = exponentEnd
                            while end < characters.count, ("0"..."9").contains(characters[end]) { end += 1 }
                        }
                    }
                    break
                }
                let text = String(String.UnicodeScalarView(characters[position..<end])).replacingOccurrences(of: "_", with: "")
                if isFloat {
                    guard let value = Double(text) else { throw ExpressionError("invalid number \(text)") }
                    tokens.append(.float(value))
                } else if let value = Int(text) {
                    tokens.append(.int(value))
                } else {
                    tokens.append(.float(Double(text) ?? .infinity))
                }
                position = end
                continue
            }
            if character == "'" || character == "\"" {
                let (string, end) = try readString(characters, from: position)
                tokens.append(.string(string))
                position = end
                continue
            }
            var matched = false
            for op in operators {
                let scalars = Array(op.unicodeScalars)
                if position + scalars.count <= characters.count, Array(characters[position..<position + scalars.count]) == scalars {
                    tokens.append(.op(op))
                    position += scalars.count
                    matched = true
                    break
                }
            }
            guard matched else { throw ExpressionError("unexpected character \(PyRepr.string(String(character)))") }
        }
        tokens.append(.end)
        return tokens
    }

    /// A quoted string with Python's escapes; returns the text and the index after the quote.
    static func readString(_ characters: [Unicode.Scalar], from start: Int) throws -> (String, Int) {
        let quote = characters[start]
        var output = String.UnicodeScalarView()
        var position = start + 1
        while position < characters.count {
            let scalar = characters[position]
            if scalar == quote { return (String(output), position + 1) }
            if scalar == "\\", position + 1 < characters.count {
                let next = characters[position + 1]
                position += 2
                switch next {
                case "n": output.append("\n")
                case "t": output.append("\t")
                case "r": output.append("\r")
                case "0": output.append("\0")
                case "\\", "'", "\"": output.append(next)
                case "\n": break
                case "x", "u", "U":
                    let count = next == "x" ? 2 : next == "u" ? 4 : 8
                    guard position + count <= characters.count,
                          let value = UInt32(String(String.UnicodeScalarView(characters[position..<position + count])), radix: 16),
                          let decoded = Unicode.Scalar(value) else {
                        throw ExpressionError("truncated \\\(next) escape in string literal")
                    }
                    output.append(decoded)
                    position += count
                default:
                    output.append("\\")
                    output.append(next)
                }
                continue
            }
            output.append(scalar)
            position += 1
        }
        throw ExpressionError("unterminated string literal")
    }
}
