/// Evaluates a parsed expression. Total and sandboxed: no loops, no attribute access beyond
/// a fixed list of methods, no way to reach the host.
struct Interpreter {
    let context: ExpressionContext

    static let macroNames: Set<String> = [
        "now_utc", "today_utc", "timestamp", "max", "min", "day_delta", "duration", "format_datetime",
        "str_to_datetime", "sanitize_url", "camel_case_to_snake_case", "generate_uuid", "today_with_timezone",
    ]

    func evaluate(_ expression: Expression) throws -> PyValue {
        switch expression {
        case .literal(let value): return value
        case .name(let name):
            if let value = context.variables[name] { return value }
            if Self.macroNames.contains(name) { return .function(name) }
            return .undefined("'\(name)' is undefined")
        case .list(let items): return .list(try items.map(evaluate))
        case .tuple(let items): return .tuple(try items.map(evaluate))
        case .dict(let pairs):
            var dict = PyDict()
            for (key, value) in pairs { dict[try evaluate(key)] = try evaluate(value) }
            return .dict(dict)
        case .attribute(let base, let name): return try attribute(try evaluate(base), name)
        case .subscript(let base, let index): return try subscriptValue(try evaluate(base), try evaluate(index))
        case .slice(let base, let start, let stop, let step):
            return try slice(try evaluate(base), try start.map(evaluate), try stop.map(evaluate), try step.map(evaluate))
        case .call(let callee, let args, let kwargs):
            let function = try evaluate(callee)
            let arguments = try args.map(evaluate)
            var keywords: [String: PyValue] = [:]
            for (name, value) in kwargs { keywords[name] = try evaluate(value) }
            return try call(function, arguments, keywords)
        case .filter(let base, let name, let args, let kwargs):
            var keywords: [String: PyValue] = [:]
            for (key, value) in kwargs { keywords[key] = try evaluate(value) }
            return try Filters.apply(name, to: try evaluate(base), args: try args.map(evaluate), kwargs: keywords)
        case .test(let base, let name, let args, let negated):
            let result = try Filters.test(name, try evaluate(base), args: try args.map(evaluate))
            return .bool(result != negated)
        case .negate(let inner):
            switch try evaluate(inner) {
            case .int(let value): return .int(try ExpressionLimits.integer(0.subtractingReportingOverflow(value), "-(\(value))"))
            case .float(let value): return .float(-value)
            case .bool(let value): return .int(value ? -1 : 0)
            case .timedelta(let duration): return .timedelta(try duration.negated())
            case let other: throw Self.undefinedOr(other, "bad operand type for unary -: '\(other.typeName)'")
            }
        case .positive(let inner):
            let value = try evaluate(inner)
            switch value {
            case .int, .float, .timedelta: return value
            case .bool(let flag): return .int(flag ? 1 : 0)
            default: throw Self.undefinedOr(value, "bad operand type for unary +: '\(value.typeName)'")
            }
        case .not(let inner): return .bool(!(try evaluate(inner)).isTruthy)
        case .and(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? try evaluate(right) : value
        case .or(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? value : try evaluate(right)
        case .binary(let op, let left, let right):
            return try Operators.binary(op, try evaluate(left), try evaluate(right))
        case .compare(let first, let rest):
            var left = try evaluate(first)
            for (op, expression) in rest {
                let right = try evaluate(expression)
                guard try Operators.compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .concat(let items):
            let parts = try items.map { try ExpressionLimits.str(try evaluate($0), "joining with ~") }
            try ExpressionLimits.checkSize(parts.reduce(0) { $0 + $1.utf8.count }, "joining with ~")
            return .string(parts.joined())
        case .conditional(let test, let then, let otherwise):
            if try evaluate(test).isTruthy { return try evaluate(then) }
            if let otherwise { return try evaluate(otherwise) }
            return .undefined("the conditional expression evaluated to false and had no else")
        }
    }

    /// Using an Undefined for anything but rendering or truth is Jinja's `UndefinedError`.
    static func undefinedOr(_ value: PyValue, _ message: String) -> ExpressionError {
        if case .undefined(let why) = value { return ExpressionError(why, isUndefined: true) }
        return ExpressionError(message)
    }

    /// Jinja's `getattr`: an attribute (method) of the object first, then its item.
    func attribute(_ base: PyValue, _ name: String) throws -> PyValue {
        if case .undefined(let why) = base { throw ExpressionError("\(why) (reading .\(name))", isUndefined: true) }
        if Methods.has(base, name) { return .boundMethod(PyBox(base), name) }
        if let property = Methods.property(base, name) { return property }
        if case .dict(let dict) = base { return dict[name] ?? .undefined("'dict object' has no attribute '\(name)'") }
        return .undefined("'\(base.typeName) object' has no attribute '\(name)'")
    }

    /// Jinja's `getitem`: the item first, then for a string key the attribute.
    func subscriptValue(_ base: PyValue, _ index: PyValue) throws -> PyValue {
        switch base {
        case .undefined(let why): throw ExpressionError("\(why) (reading [\(PyRepr.repr(index))])", isUndefined: true)
        case .dict(let dict):
            if let value = dict[index] { return value }
        case .list(let items), .tuple(let items):
            if case .int(let position) = index.hashKey {
                let resolved = position < 0 ? items.count + position : position
                if resolved >= 0, resolved < items.count { return items[resolved] }
            }
        case .string(let string):
            if case .int(let position) = index.hashKey {
                let characters = Array(string)
                let resolved = position < 0 ? characters.count + position : position
                if resolved >= 0, resolved < characters.count { return .string(String(characters[resolved])) }
            }
        default: break
        }
        if case .string(let name) = index, Methods.has(base, name) { return .boundMethod(PyBox(base), name) }
        // Never the base's contents: `config` holds the connection's credentials, and this
        // message ends up in the run's error and the logs.
        return .undefined("'\(base.typeName) object' has no item \(PyRepr.repr(index).prefix(64))")
    }

    func slice(_ base: PyValue, _ start: PyValue?, _ stop: PyValue?, _ step: PyValue?) throws -> PyValue {
        func bound(_ value: PyValue?) throws -> Int? {
            switch value {
            case nil, .none?: return nil
            case .int(let number)?: return number
            case .bool(let flag)?: return flag ? 1 : 0
            case let other?: throw Self.undefinedOr(other, "slice indices must be integers or None")
            }
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw ExpressionError("slice step cannot be zero") }
        func pick<T>(_ items: [T]) throws -> [T] {
            let count = items.count
            func clamp(_ value: Int?, _ fallback: Int) -> Int {
                guard var value else { return fallback }
                if value < 0 { value += count }
                return stepValue > 0 ? Swift.min(Swift.max(value, 0), count) : Swift.min(Swift.max(value, -1), count - 1)
            }
            let lower = clamp(try bound(start), stepValue > 0 ? 0 : count - 1)
            let upper = clamp(try bound(stop), stepValue > 0 ? count : -1)
            var result: [T] = []
            var index = lower
            while stepValue > 0 ? index < upper : index > upper {
                result.append(items[index])
                index += stepValue
            }
            return result
        }
        switch base {
        case .list(let items): return .list(try pick(items))
        case .tuple(let items): return .tuple(try pick(items))
        case .string(let string): return .string(String(try pick(Array(string))))
        default: throw Self.undefinedOr(base, "'\(base.typeName)' object is not subscriptable")
        }
    }

    func call(_ function: PyValue, _ args: [PyValue], _ kwargs: [String: PyValue]) throws -> PyValue {
        switch function {
        case .function(let name): return try Macros.call(name, args, kwargs, now: context.now)
        case .boundMethod(let receiver, let name): return try Methods.call(receiver.value, name, args, kwargs)
        default:
            if case .undefined(let why) = function { throw ExpressionError(why, isUndefined: true) }
            throw ExpressionError("'\(function.typeName)' object is not callable", isTypeError: true)
        }
    }
}
