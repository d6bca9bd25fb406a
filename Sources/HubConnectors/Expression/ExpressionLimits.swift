/// What one interpolation may cost. Manifests come from operators and the values they compute
/// over from third-party APIs; neither may crash or exhaust a worker (DESIGN: no manifest,
/// however hostile, may crash or hang a process). The expression language has no loops, so
/// time is bounded by the size of the expression and of the values it builds; these bound both.
/// Exceeding one is an `ExpressionError` naming the limit, which the component reports with
/// its manifest path. The figures are far above anything the Airbyte catalogue's manifests use
/// (their longest expression has under 100 tokens).
enum ExpressionLimits {
    /// Tokens in one `{{ … }}`.
    static let maximumTokens = 4_096
    /// Brackets, unary operators, `not`s and conditionals nested in one another. Each level is a
    /// dozen frames of the recursive-descent parser.
    static let maximumNesting = 64
    /// Depth of the parsed tree, which the interpreter recurses over (a chain `1 + 1 + …` is as
    /// deep as it is long).
    static let maximumDepth = 256
    /// UTF-8 bytes of a string, or items of a list, that one operation may build.
    static let maximumSize = 1 << 20

    /// Throws unless an operation's result of `size` bytes (or items) is within the limit.
    static func checkSize(_ size: Int, _ operation: @autoclosure () -> String) throws {
        guard size <= maximumSize else {
            throw ExpressionError("\(operation()) would build \(size) bytes or items, over the limit of \(maximumSize)")
        }
    }

    /// `count × each`, refused when it is over the limit (or overflows).
    static func checkRepeat(_ each: Int, times: Int, _ operation: @autoclosure () -> String) throws {
        let (total, overflow) = Swift.max(0, each).multipliedReportingOverflow(by: Swift.max(0, times))
        try checkSize(overflow ? Int.max : total, operation())
    }

    /// Python's ints are unbounded; ours are 64-bit, so a result that does not fit is an error
    /// rather than a wrong number.
    static func integer(_ result: (partialValue: Int, overflow: Bool), _ operation: @autoclosure () -> String) throws -> Int {
        guard !result.overflow else { throw ExpressionError("integer overflow: \(operation()) does not fit in 64 bits") }
        return result.partialValue
    }

    /// A float's integer part, when it fits in 64 bits.
    static func truncated(_ value: Double) -> Int? {
        guard value.isFinite, Swift.abs(value) < 9.2e18 else { return nil }
        return Int(value.rounded(.towardZero))
    }

    /// Refuses a regular expression that can take exponential time in a backtracking engine
    /// (Swift's is one): a repeated group that itself holds a repetition or an alternation, as
    /// in `(a+)+` or `(a|a)*`, and back-references. The subject comes from a third-party API,
    /// so the pattern is the only place to stop catastrophic backtracking.
    static func checkRegex(_ pattern: String) throws {
        let scalars = Array(pattern.unicodeScalars)
        // For each open group: whether it holds a quantifier or an alternation.
        var groups: [Bool] = []
        var index = 0
        var inClass = false
        func isRepeat(at position: Int) -> Bool { position < scalars.count && ["*", "+", "{"].contains(scalars[position]) }
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\\" {
                if index + 1 < scalars.count, ("1"..."9").contains(scalars[index + 1]) || scalars[index + 1] == "k" {
                    throw ExpressionError("regular expression \(PyRepr.string(pattern)) uses a back-reference, which Tributary does not run")
                }
                index += 2
                continue
            }
            if inClass { if scalar == "]" { inClass = false }; index += 1; continue }
            switch scalar {
            case "[": inClass = true
            case "(": groups.append(false)
            case "|": if !groups.isEmpty { groups[groups.count - 1] = true }
            case "*", "+", "{":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            case "?" where index > 0 && scalars[index - 1] != "(":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            case ")":
                let risky = groups.popLast() ?? false
                let next = index + 1
                if risky, isRepeat(at: next) {
                    throw ExpressionError("regular expression \(PyRepr.string(pattern)) repeats a group that itself repeats or alternates, "
                        + "which can take exponential time; rewrite it without the nesting")
                }
                // A group counts as a repetition inside its parent when it is repeated itself.
                if !groups.isEmpty, risky || isRepeat(at: next) { groups[groups.count - 1] = true }
            default: break
            }
            index += 1
        }
    }
}

extension ExpressionLimits {
    /// `str(value)`, refused when it would be over the size limit. A list of references to one
    /// large value is cheap to build and huge to print, so the size is measured (iteratively,
    /// stopping at the limit) before the text is made.
    static func str(_ value: PyValue, _ operation: @autoclosure () -> String = "rendering a value") throws -> String {
        try checkSize(renderedSize(of: value), operation())
        return PyRepr.str(value)
    }

    /// Roughly how long `repr(value)` is (strings and separators counted, escapes not), or just
    /// over the limit once it is known to be over.
    static func renderedSize(of value: PyValue) -> Int {
        var total = 0
        var pending = [value]
        while let next = pending.popLast(), total <= maximumSize {
            switch next {
            case .string(let string): total += string.utf8.count + 2
            case .list(let items), .tuple(let items): total += 2 + items.count * 2; pending.append(contentsOf: items)
            case .dict(let dict):
                total += 2 + dict.entries.count * 4
                for entry in dict.entries { pending.append(entry.key); pending.append(entry.value) }
            default: total += 32
            }
        }
        return total
    }
}
