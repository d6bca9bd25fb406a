/// Python's arithmetic and comparisons over evaluator values.
enum Operators {
    static func number(_ value: PyValue) -> Double? {
        switch value {
        case .int(let number): return Double(number)
        case .float(let number): return number
        case .bool(let flag): return flag ? 1 : 0
        default: return nil
        }
    }

    static func integer(_ value: PyValue) -> Int? {
        switch value {
        case .int(let number): return number
        case .bool(let flag): return flag ? 1 : 0
        default: return nil
        }
    }

    static func binary(_ op: String, _ left: PyValue, _ right: PyValue) throws -> PyValue {
        for value in [left, right] {
            if case .undefined(let why) = value { throw ExpressionError(why, isUndefined: true) }
        }
        let failure = ExpressionError("unsupported operand type(s) for \(op): '\(left.typeName)' and '\(right.typeName)'", isTypeError: true)
        if let a = integer(left), let b = integer(right) {
            switch op {
            case "+": return .int(try ExpressionLimits.integer(a.addingReportingOverflow(b), "\(a) + \(b)"))
            case "-": return .int(try ExpressionLimits.integer(a.subtractingReportingOverflow(b), "\(a) - \(b)"))
            case "*": return .int(try ExpressionLimits.integer(a.multipliedReportingOverflow(by: b), "\(a) * \(b)"))
            case "/":
                guard b != 0 else { throw ExpressionError("division by zero") }
                return .float(Double(a) / Double(b))
            case "//", "%":
                guard b != 0 else { throw ExpressionError("integer division or modulo by zero") }
                // The one quotient that does not fit: Int.min // -1.
                if a == .min, b == -1 { return op == "%" ? .int(0) : .int(try ExpressionLimits.integer((a, true), "\(a) // \(b)")) }
                let (quotient, remainder) = a.floorDivided(by: b)
                return .int(op == "//" ? quotient : remainder)
            case "**":
                if b < 0 { return .float(pow(Double(a), Double(b))) }
                return .int(try power(a, b))
            default: throw failure
            }
        }
        if let a = number(left), let b = number(right) {
            switch op {
            case "+": return .float(a + b)
            case "-": return .float(a - b)
            case "*": return .float(a * b)
            case "/":
                guard b != 0 else { throw ExpressionError("float division by zero") }
                return .float(a / b)
            case "//":
                guard b != 0 else { throw ExpressionError("float floor division by zero") }
                return .float((a / b).rounded(.down))
            case "%":
                guard b != 0 else { throw ExpressionError("float modulo") }
                let remainder = a.truncatingRemainder(dividingBy: b)
                return .float(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
            case "**": return .float(pow(a, b))
            default: throw failure
            }
        }
        switch (op, left, right) {
        case ("+", .string(let a), .string(let b)):
            try ExpressionLimits.checkSize(a.utf8.count + b.utf8.count, "adding two strings")
            return .string(a + b)
        case ("+", .list(let a), .list(let b)), ("+", .tuple(let a), .tuple(let b)):
            try ExpressionLimits.checkSize(a.count + b.count, "adding two lists")
            if case .tuple = left { return .tuple(a + b) }
            return .list(a + b)
        case ("*", .string(let a), .int(let b)), ("*", .int(let b), .string(let a)):
            // Repeating nothing is nothing, however many times: without this, '' * 10**15
            // passes the size check and then loops 10^15 times (found by scripts/fuzz).
            if a.isEmpty || b <= 0 { return .string("") }
            try ExpressionLimits.checkRepeat(a.utf8.count, times: b, "repeating a string \(b) times")
            return .string(String(repeating: a, count: Swift.max(0, b)))
        case ("*", .list(let a), .int(let b)), ("*", .int(let b), .list(let a)):
            if a.isEmpty || b <= 0 { return .list([]) }
            // Measured deep: a list of one huge string repeated is cheap to build, huge to print.
            try ExpressionLimits.checkRepeat(ExpressionLimits.renderedSize(of: .list(a)), times: b, "repeating a list \(b) times")
            return .list(Array(repeating: a, count: Swift.max(0, b)).flatMap { $0 })
        case ("+", .datetime(let a), .timedelta(let d)), ("+", .timedelta(let d), .datetime(let a)): return .datetime(try a.adding(d))
        case ("-", .datetime(let a), .timedelta(let d)): return .datetime(try a.adding(try d.negated()))
        case ("+", .date(let a), .timedelta(let d)), ("+", .timedelta(let d), .date(let a)): return .date(try a.adding(d))
        case ("-", .date(let a), .timedelta(let d)): return .date(try a.adding(try d.negated()))
        case ("-", .datetime(let a), .datetime(let b)), ("-", .date(let a), .date(let b)):
            return .timedelta(try PyDuration.checked(months: (0, false), micros: a.epochMicros.subtractingReportingOverflow(b.epochMicros)))
        case ("+", .timedelta(let a), .timedelta(let b)):
            return .timedelta(try PyDuration.checked(months: a.months.addingReportingOverflow(b.months), micros: a.micros.addingReportingOverflow(b.micros)))
        case ("-", .timedelta(let a), .timedelta(let b)):
            return .timedelta(try PyDuration.checked(months: a.months.subtractingReportingOverflow(b.months),
                                                     micros: a.micros.subtractingReportingOverflow(b.micros)))
        case ("*", .timedelta(let a), .int(let b)), ("*", .int(let b), .timedelta(let a)):
            return .timedelta(try PyDuration.checked(months: a.months.multipliedReportingOverflow(by: b),
                                                     micros: a.micros.multipliedReportingOverflow(by: Int64(b))))
        default: throw failure
        }
    }

    /// `base ** exponent` for a non-negative exponent, by squaring: a handful of
    /// multiplications however large the exponent, each checked.
    static func power(_ base: Int, _ exponent: Int) throws -> Int {
        var result = 1, factor = base, remaining = exponent
        let operation = "\(base) ** \(exponent)"
        while remaining > 0 {
            if remaining & 1 == 1 { result = try ExpressionLimits.integer(result.multipliedReportingOverflow(by: factor), operation) }
            remaining >>= 1
            // The last squaring is never used; skipping it keeps 3_037_000_500 ** 1 from overflowing.
            if remaining > 0 { factor = try ExpressionLimits.integer(factor.multipliedReportingOverflow(by: factor), operation) }
        }
        return result
    }

    static func compare(_ op: String, _ left: PyValue, _ right: PyValue) throws -> Bool {
        switch op {
        case "==": return equal(left, right)
        case "!=": return !equal(left, right)
        case "in": return try contains(right, left)
        case "not in": return !(try contains(right, left))
        default:
            let order = try ordering(left, right, op)
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    static func equal(_ left: PyValue, _ right: PyValue) -> Bool {
        if let a = number(left), let b = number(right) { return a == b }
        switch (left, right) {
        case (.undefined, .undefined): return true
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        default: return left == right
        }
    }

    static func ordering(_ left: PyValue, _ right: PyValue, _ op: String) throws -> Int {
        if let a = number(left), let b = number(right) { return a < b ? -1 : a > b ? 1 : 0 }
        switch (left, right) {
        case (.string(let a), .string(let b)):
            // Python compares strings by code point.
            let x = Array(a.unicodeScalars).map(\.value), y = Array(b.unicodeScalars).map(\.value)
            return x.lexicographicallyPrecedes(y) ? -1 : x == y ? 0 : 1
        case (.datetime(let a), .datetime(let b)), (.date(let a), .date(let b)):
            return a < b ? -1 : a == b ? 0 : 1
        case (.timedelta(let a), .timedelta(let b)):
            return a.micros < b.micros ? -1 : a.micros == b.micros ? 0 : 1
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !equal(x, y) { return try ordering(x, y, op) }
            return a.count < b.count ? -1 : a.count == b.count ? 0 : 1
        default:
            for value in [left, right] {
                if case .undefined(let why) = value { throw ExpressionError(why, isUndefined: true) }
            }
            throw ExpressionError("'\(op)' not supported between instances of '\(left.typeName)' and '\(right.typeName)'", isTypeError: true)
        }
    }

    static func contains(_ container: PyValue, _ item: PyValue) throws -> Bool {
        switch container {
        case .string(let string):
            guard case .string(let needle) = item else {
                throw ExpressionError("'in <string>' requires string as left operand, not \(item.typeName)", isTypeError: true)
            }
            return needle.isEmpty || string.contains(needle)
        case .list(let items), .tuple(let items): return items.contains { equal($0, item) }
        case .dict(let dict): return dict[item] != nil
        case .undefined: return false
        default: throw ExpressionError("argument of type '\(container.typeName)' is not iterable", isTypeError: true)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
