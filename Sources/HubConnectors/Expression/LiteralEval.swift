/// Python's `ast.literal_eval` on rendered text, which the CDK applies to every
/// interpolation: `"5"` becomes 5, `"None"` becomes None, `"[1, 2]"` a list, and anything
/// that is not a pure literal (a date like `2024-01-01`, a bare word) stays the text it was.
enum LiteralEval {
    /// nil when the text is not a Python literal.
    static func evaluate(_ text: String) -> PyValue? {
        var parser = Parser(scalars: Array(text.unicodeScalars))
        parser.skipLeadingBlanks()
        guard let value = parser.parseValue() else { return nil }
        parser.skipSpace(newlines: true)
        return parser.atEnd ? value : nil
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        var position = 0

        var atEnd: Bool { position >= scalars.count }
        var current: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

        /// literal_eval strips leading spaces and tabs only.
        mutating func skipLeadingBlanks() {
            while let scalar = current, scalar == " " || scalar == "\t" { position += 1 }
        }

        mutating func skipSpace(newlines: Bool) {
            while let scalar = current, scalar == " " || scalar == "\t" || (newlines && (scalar == "\n" || scalar == "\r")) {
                position += 1
            }
        }

        mutating func parseValue(depth: Int = 0) -> PyValue? {
            guard depth < 100 else { return nil }
            skipSpace(newlines: depth > 0)
            guard let scalar = current else { return nil }
            switch scalar {
            case "-", "+":
                position += 1
                skipSpace(newlines: depth > 0)
                guard let operand = parseNumber() else { return nil }
                if scalar == "+" { return operand }
                switch operand {
                case .int(let value): return .int(-value)
                case .float(let value): return .float(-value)
                default: return nil
                }
            case "0"..."9", ".": return parseNumber()
            case "'", "\"": return parseStrings()
            case "[", "(", "{": return parseContainer(open: scalar, depth: depth)
            default:
                if scalar == "_" || scalar.properties.isAlphabetic {
                    // String prefixes (r, b, u, f) and the three constants; any other name is not a literal.
                    let start = position
                    while let next = current, next == "_" || next.properties.isAlphabetic || ("0"..."9").contains(next) { position += 1 }
                    let word = String(String.UnicodeScalarView(scalars[start..<position]))
                    switch word {
                    case "True": return .bool(true)
                    case "False": return .bool(false)
                    case "None": return PyValue.none
                    case "u", "U", "r", "R":
                        guard let quote = current, quote == "'" || quote == "\"" else { return nil }
                        return parseStrings(raw: word.lowercased() == "r")
                    default: return nil
                    }
                }
                return nil
            }
        }

        mutating func parseNumber() -> PyValue? {
            let start = position
            if current == "0", position + 1 < scalars.count, ["x", "X", "o", "O", "b", "B"].contains(scalars[position + 1]) {
                let radix = ["x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2][Character(scalars[position + 1])]!
                position += 2
                let digitsStart = position
                while let scalar = current, scalar == "_" || Int(String(scalar), radix: radix) != nil { position += 1 }
                let digits = String(String.UnicodeScalarView(scalars[digitsStart..<position])).filter { $0 != "_" }
                guard !digits.isEmpty, !isNameCharacter(current), let value = Int(digits, radix: radix) else { return nil }
                return .int(value)
            }
            var sawDot = false, sawExponent = false
            while let scalar = current {
                if ("0"..."9").contains(scalar) || scalar == "_" { position += 1; continue }
                if scalar == ".", !sawDot, !sawExponent { sawDot = true; position += 1; continue }
                if scalar == "e" || scalar == "E", !sawExponent {
                    var lookahead = position + 1
                    if lookahead < scalars.count, scalars[lookahead] == "+" || scalars[lookahead] == "-" { lookahead += 1 }
                    guard lookahead < scalars.count, ("0"..."9").contains(scalars[lookahead]) else { return nil }
                    sawExponent = true
                    position = lookahead
                    continue
                }
                break
            }
            // `1j` is complex (refused by the CDK); `12abc` is a syntax error.
            if isNameCharacter(current) { return nil }
            let raw = String(String.UnicodeScalarView(scalars[start..<position]))
            guard !raw.hasPrefix("_"), !raw.hasSuffix("_"), !raw.contains("__"), raw != "." else { return nil }
            let text = raw.filter { $0 != "_" }
            if sawDot || sawExponent { return Double(text).map(PyValue.float) }
            // Python 3 refuses leading zeros in decimal integers ("007"), but "0" and "00" are fine.
            if text.count > 1, text.hasPrefix("0"), text.contains(where: { $0 != "0" }) { return nil }
            if let value = Int(text) { return .int(value) }
            return Double(text).map(PyValue.float)
        }

        func isNameCharacter(_ scalar: Unicode.Scalar?) -> Bool {
            guard let scalar else { return false }
            return scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
        }

        /// One or more adjacent string literals (implicitly concatenated), each possibly triple-quoted.
        mutating func parseStrings(raw: Bool = false) -> PyValue? {
            var result = ""
            var isRaw = raw
            while let quote = current, quote == "'" || quote == "\"" {
                guard let part = parseString(quote: quote, raw: isRaw) else { return nil }
                result += part
                let save = position
                skipSpace(newlines: false)
                if let next = current, next == "r" || next == "R" || next == "u" || next == "U",
                   position + 1 < scalars.count, scalars[position + 1] == "'" || scalars[position + 1] == "\"" {
                    isRaw = next == "r" || next == "R"
                    position += 1
                } else if current != "'" && current != "\"" {
                    position = save
                    break
                } else {
                    isRaw = false
                }
            }
            return .string(result)
        }

        mutating func parseString(quote: Unicode.Scalar, raw: Bool) -> String? {
            let triple = position + 2 < scalars.count && scalars[position + 1] == quote && scalars[position + 2] == quote
            position += triple ? 3 : 1
            var output = String.UnicodeScalarView()
            while let scalar = current {
                if scalar == quote {
                    if !triple { position += 1; return String(output) }
                    if position + 2 < scalars.count, scalars[position + 1] == quote, scalars[position + 2] == quote {
                        position += 3
                        return String(output)
                    }
                }
                if !triple, scalar == "\n" { return nil }
                if scalar == "\\", position + 1 < scalars.count {
                    let next = scalars[position + 1]
                    if raw {
                        output.append(scalar); output.append(next)
                        position += 2
                        continue
                    }
                    position += 2
                    switch next {
                    case "n": output.append("\n")
                    case "t": output.append("\t")
                    case "r": output.append("\r")
                    case "0": output.append("\0")
                    case "a": output.append("\u{07}")
                    case "b": output.append("\u{08}")
                    case "f": output.append("\u{0C}")
                    case "v": output.append("\u{0B}")
                    case "\n": break
                    case "\\", "'", "\"": output.append(next)
                    case "x", "u", "U":
                        let count = next == "x" ? 2 : next == "u" ? 4 : 8
                        guard position + count <= scalars.count,
                              let value = UInt32(String(String.UnicodeScalarView(scalars[position..<position + count])), radix: 16),
                              let decoded = Unicode.Scalar(value) else { return nil }
                        output.append(decoded)
                        position += count
                    default:
                        output.append("\\"); output.append(next)
                    }
                    continue
                }
                output.append(scalar)
                position += 1
            }
            return nil
        }

        mutating func parseContainer(open: Unicode.Scalar, depth: Int) -> PyValue? {
            let close: Unicode.Scalar = open == "[" ? "]" : open == "(" ? ")" : "}"
            position += 1
            var items: [PyValue] = []
            var dict = PyDict()
            var sawComma = false
            while true {
                skipSpace(newlines: true)
                if current == close { position += 1; break }
                guard let item = parseValue(depth: depth + 1) else { return nil }
                skipSpace(newlines: true)
                if open == "{" {
                    guard current == ":" else { return nil }
                    position += 1
                    guard let value = parseValue(depth: depth + 1) else { return nil }
                    guard item.isHashableKey else { return nil }
                    dict[item] = value
                    skipSpace(newlines: true)
                } else {
                    items.append(item)
                }
                if current == "," { position += 1; sawComma = true; continue }
                skipSpace(newlines: true)
                guard current == close else { return nil }
                position += 1
                break
            }
            switch open {
            case "[": return .list(items)
            case "{": return .dict(dict)
            default: return items.count == 1 && !sawComma ? items[0] : .tuple(items)
            }
        }
    }
}

extension PyValue {
    /// Lists and dicts cannot be dictionary keys in Python.
    var isHashableKey: Bool {
        switch self {
        case .list, .dict: return false
        case .tuple(let items): return items.allSatisfy(\.isHashableKey)
        default: return true
        }
    }
}
