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
        let failure = ExpressionError("unsupported operand type(s) for \(op): '\(left.typeName)' and '\(right.typeName)'")
        if let a = integer(left), let b = integer(right) {
            switch op {
            case "+": return .int(a &+ b)
            case "-": return .int(a &- b)
            case "*": return .int(a &* b)
            case "/":
                guard b != 0 else { throw ExpressionError("division by zero") }
                return .float(Double(a) / Double(b))
            case "//":
                guard b != 0 else { throw ExpressionError("integer division or modulo by zero") }
                return .int(a.floorDivided(by: b).quotient)
            case "%":
                guard b != 0 else { throw ExpressionError("integer division or modulo by zero") }
                return .int(a.floorDivided(by: b).remainder)
            case "**":
                if b < 0 { return .float(pow(Double(a), Double(b))) }
                var result = 1
                for _ in 0..<b { result = result &* a }
                return .int(result)
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
        case ("+", .string(let a), .string(let b)): return .string(a + b)
        case ("+", .list(let a), .list(let b)): return .list(a + b)
        case ("+", .tuple(let a), .tuple(let b)): return .tuple(a + b)
        case ("*", .string(let a), .int(let b)), ("*", .int(let b), .string(let a)):
            return .string(String(repeating: a, count: Swift.max(0, b)))
        case ("*", .list(let a), .int(let b)), ("*", .int(let b), .list(let a)):
            return .list(Array(repeating: a, count: Swift.max(0, b)).flatMap { $0 })
        case ("+", .datetime(let a), .timedelta(let d)), ("+", .timedelta(let d), .datetime(let a)): return .datetime(a.adding(d))
        case ("-", .datetime(let a), .timedelta(let d)): return .datetime(a.adding(d.negated))
        case ("+", .date(let a), .timedelta(let d)), ("+", .timedelta(let d), .date(let a)): return .date(a.adding(d))
        case ("-", .date(let a), .timedelta(let d)): return .date(a.adding(d.negated))
        case ("-", .datetime(let a), .datetime(let b)), ("-", .date(let a), .date(let b)):
            return .timedelta(PyDuration(micros: a.epochMicros - b.epochMicros))
        case ("+", .timedelta(let a), .timedelta(let b)): return .timedelta(PyDuration(months: a.months + b.months, micros: a.micros + b.micros))
        case ("-", .timedelta(let a), .timedelta(let b)): return .timedelta(PyDuration(months: a.months - b.months, micros: a.micros - b.micros))
        case ("*", .timedelta(let a), .int(let b)), ("*", .int(let b), .timedelta(let a)):
            return .timedelta(PyDuration(months: a.months * b, micros: a.micros * Int64(b)))
        default: throw failure
        }
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
            throw ExpressionError("'\(op)' not supported between instances of '\(left.typeName)' and '\(right.typeName)'")
        }
    }

    static func contains(_ container: PyValue, _ item: PyValue) throws -> Bool {
        switch container {
        case .string(let string):
            guard case .string(let needle) = item else {
                throw ExpressionError("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return needle.isEmpty || string.contains(needle)
        case .list(let items), .tuple(let items): return items.contains { equal($0, item) }
        case .dict(let dict): return dict[item] != nil
        case .undefined: return false
        default: throw ExpressionError("argument of type '\(container.typeName)' is not iterable")
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
