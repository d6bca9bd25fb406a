import Crypto
import Foundation

/// Jinja's built-in filters and tests that manifests use, plus the CDK's own filters
/// (`string`, `hash`, `hmac`, `base64encode`, `regex_search`, …).
enum Filters {
    static let names: Set<String> = [
        "int", "float", "string", "default", "d", "lower", "upper", "trim", "length", "count", "join", "first", "last",
        "replace", "abs", "round", "tojson", "list", "title", "capitalize", "unique", "sort", "reverse", "sum",
        "hash", "hmac", "base64encode", "base64decode", "base64binascii_decode", "regex_search", "regex_replace",
        "urlencode", "min", "max", "bool",
    ]
    static let testNames: Set<String> = [
        "defined", "undefined", "none", "number", "integer", "float", "string", "mapping", "sequence", "iterable",
        "true", "false", "boolean", "eq", "equalto", "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">", "ge", ">=",
        "in", "divisibleby", "even", "odd", "lower", "upper", "sameas",
    ]

    /// The items of an iterable value (a dict yields its keys, a string its characters).
    static func items(of value: PyValue) throws -> [PyValue] {
        switch value {
        case .list(let items), .tuple(let items): return items
        case .dict(let dict): return dict.keys
        case .string(let string): return string.map { .string(String($0)) }
        case .undefined: return []
        default: throw ExpressionError("'\(value.typeName)' object is not iterable")
        }
    }

    static func apply(_ name: String, to value: PyValue, args: [PyValue], kwargs: [String: PyValue]) throws -> PyValue {
        func argument(_ index: Int, _ keyword: String) -> PyValue? { index < args.count ? args[index] : kwargs[keyword] }
        func text(_ value: PyValue) throws -> String {
            if case .undefined(let why) = value { throw ExpressionError(why, isUndefined: true) }
            return try ExpressionLimits.str(value, "the \(name) filter's input")
        }
        switch name {
        case "int":
            let fallback = argument(0, "default") ?? .int(0)
            switch value {
            case .int: return value
            case .bool(let flag): return .int(flag ? 1 : 0)
            case .float(let number): return ExpressionLimits.truncated(number).map(PyValue.int) ?? fallback
            case .string(let string):
                let trimmed = String(string.trimmingSpaces).replacingOccurrences(of: "_", with: "")
                if let number = Int(trimmed) { return .int(number) }
                if let number = Double(trimmed).flatMap(ExpressionLimits.truncated) { return .int(number) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = argument(0, "default") ?? .float(0)
            switch value {
            case .int(let number): return .float(Double(number))
            case .float: return value
            case .bool(let flag): return .float(flag ? 1 : 0)
            case .string(let string): return Double(String(string.trimmingSpaces)).map(PyValue.float) ?? fallback
            default: return fallback
            }
        case "bool": return .bool(value.isTruthy)
        case "string":
            // The CDK's `string` filter: non-strings become their JSON in triple quotes, so
            // that literal_eval turns them back into a string rather than a structure.
            if case .string = value { return value }
            if case .undefined = value { return .string("") }
            return .string("\"\"\"" + (try PyRepr.jsonDumps(value)) + "\"\"\"")
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .string("")
            let boolean = argument(1, "boolean")?.isTruthy ?? false
            if value.isUndefined || (boolean && !value.isTruthy) { return fallback }
            return value
        case "lower": return .string(try text(value).lowercased())
        case "upper": return .string(try text(value).uppercased())
        case "trim": return .string(String(try text(value).trimmingSpaces))
        case "title", "capitalize": return .string(StringFunctions.titled(try text(value), everyWord: name == "title"))
        case "length", "count":
            if case .string(let string) = value { return .int(string.count) }
            return .int(try items(of: value).count)
        case "join":
            let separator = try argument(0, "d").map(text) ?? ""
            let parts = try items(of: value).map(text)
            try ExpressionLimits.checkSize(parts.reduce(separator.utf8.count * parts.count) { $0 + $1.utf8.count }, "join")
            return .string(parts.joined(separator: separator))
        case "first", "last":
            let all = try items(of: value)
            return (name == "first" ? all.first : all.last) ?? .undefined("\(name) of an empty sequence")
        case "reverse":
            if case .string(let string) = value { return .string(String(string.reversed())) }
            return .list(try items(of: value).reversed())
        case "list": return .list(try items(of: value))
        case "unique":
            // Hashed, so a long list costs linear time, not quadratic; `hashKey` makes 1, 1.0
            // and True one key, as Python's equality does.
            var seen = Set<PyValue>()
            return .list(try items(of: value).filter { seen.insert($0.hashKey).inserted })
        case "sort":
            return .list(try items(of: value).sorted { try Operators.ordering($0, $1, "<") < 0 })
        case "sum":
            return try items(of: value).reduce(PyValue.int(0)) { try Operators.binary("+", $0, $1) }
        case "min", "max":
            return try Macros.call(name, [.list(try items(of: value))], [:], now: PyDateTime(wallMicros: 0, offset: 0))
        case "replace":
            guard let old = argument(0, "old"), let new = argument(1, "new") else {
                throw ExpressionError("replace filter takes two arguments")
            }
            return .string(try StringFunctions.replace(try text(value), try text(old), with: try text(new)))
        case "abs":
            switch value {
            case .int(let number):
                guard number != .min else { throw ExpressionError("integer overflow: abs(\(number)) does not fit in 64 bits") }
                return .int(Swift.abs(number))
            case .float(let number): return .float(Swift.abs(number))
            default: throw Interpreter.undefinedOr(value, "bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            guard let number = Operators.number(value) else { throw Interpreter.undefinedOr(value, "round needs a number") }
            let precision = argument(0, "precision").flatMap(Operators.integer) ?? 0
            let scale = pow(10.0, Double(precision))
            return .float((number * scale).rounded(.toNearestOrAwayFromZero) / scale)
        case "tojson": return .string(try PyRepr.jsonDumps(value))
        case "urlencode": return .string(Macros.quotePlus(try text(value)).replacingOccurrences(of: "+", with: "%20"))
        case "base64encode": return .string(Data(try text(value).utf8).base64EncodedString())
        case "base64decode", "base64binascii_decode":
            let encoded = try text(value)
            if name == "base64binascii_decode" { return .string(Data(encoded.utf8).base64EncodedString()) }
            guard let data = Data(base64Encoded: encoded), let decoded = String(data: data, encoding: .utf8) else {
                throw ExpressionError("base64decode: the value is not valid base64 text")
            }
            return .string(decoded)
        case "hash":
            let algorithm = try argument(0, "hash_type").map(text) ?? "md5"
            let salt = try argument(1, "salt").map(text) ?? ""
            let input = Data((try text(value) + salt).utf8)
            switch algorithm {
            case "md5": return .string(Insecure.MD5.hash(data: input).hexString)
            case "sha1": return .string(Insecure.SHA1.hash(data: input).hexString)
            case "sha256": return .string(SHA256.hash(data: input).hexString)
            case "sha512": return .string(SHA512.hash(data: input).hexString)
            default: throw ExpressionError("hash: unsupported hash type \(PyRepr.string(algorithm))")
            }
        case "hmac":
            guard let keyValue = argument(0, "key") else { throw ExpressionError("hmac filter needs a key") }
            let key = SymmetricKey(data: Data(try text(keyValue).utf8))
            let message = Data(try text(value).utf8)
            switch try argument(1, "hash_type").map(text) ?? "sha256" {
            case "sha256": return .string(Data(HMAC<SHA256>.authenticationCode(for: message, using: key)).hexString)
            case "sha512": return .string(Data(HMAC<SHA512>.authenticationCode(for: message, using: key)).hexString)
            case let other: throw ExpressionError("hmac: unsupported hash type \(PyRepr.string(other))")
            }
        case "regex_search":
            guard let pattern = argument(0, "regex") else { throw ExpressionError("regex_search needs a pattern") }
            let regex = try compile(try text(pattern))
            let subject = try text(value)
            try ExpressionLimits.checkSize(subject.utf8.count, "regex_search over a long text")
            guard let match = subject.firstMatch(of: regex) else { return .none }
            // The CDK returns the first group when the pattern has one, else the whole match.
            if match.output.count > 1, let group = match.output[1].substring { return .string(String(group)) }
            return .string(String(match.output[0].substring ?? ""))
        case "regex_replace":
            guard let pattern = argument(0, "regex"), let replacement = argument(1, "replacement") else {
                throw ExpressionError("regex_replace needs a pattern and a replacement")
            }
            let regex = try compile(try text(pattern)), subject = try text(value), inserted = try text(replacement)
            try ExpressionLimits.checkSize(subject.utf8.count, "regex_replace over a long text")
            // Each match may insert the replacement: bound the result before building it.
            try ExpressionLimits.checkRepeat(inserted.utf8.count, times: subject.matches(of: regex).count, "regex_replace")
            return .string(subject.replacing(regex, with: inserted))
        default:
            throw ExpressionError("no filter named '\(name)'")
        }
    }

    private static func compile(_ pattern: String) throws -> Regex<AnyRegexOutput> {
        try ExpressionLimits.checkRegex(pattern)
        do { return try Regex(pattern) } catch { throw ExpressionError("invalid regular expression \(PyRepr.string(pattern))") }
    }

    static func test(_ name: String, _ value: PyValue, args: [PyValue]) throws -> Bool {
        let other = args.first ?? .none
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value == .none
        case "number": if case .int = value { return true }; if case .float = value { return true }; return false
        case "integer": if case .int = value { return true }; return false
        case "float": if case .float = value { return true }; return false
        case "boolean": if case .bool = value { return true }; return false
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "string": if case .string = value { return true }; return false
        case "mapping": if case .dict = value { return true }; return false
        case "sequence", "iterable":
            switch value {
            case .list, .tuple, .string, .dict: return true
            default: return false
            }
        case "eq", "equalto", "==", "sameas": return Operators.equal(value, other)
        case "ne", "!=": return !Operators.equal(value, other)
        case "lt", "<": return try Operators.compare("<", value, other)
        case "le", "<=": return try Operators.compare("<=", value, other)
        case "gt", ">": return try Operators.compare(">", value, other)
        case "ge", ">=": return try Operators.compare(">=", value, other)
        case "in": return try Operators.contains(other, value)
        case "divisibleby":
            guard let a = Operators.integer(value), let b = Operators.integer(other), b != 0 else { return false }
            return a % b == 0
        case "even": return (Operators.integer(value) ?? 1) % 2 == 0
        case "odd": return (Operators.integer(value) ?? 0) % 2 != 0
        case "lower": if case .string(let s) = value { return s == s.lowercased() }; return false
        case "upper": if case .string(let s) = value { return s == s.uppercased() }; return false
        default: throw ExpressionError("no test named '\(name)'")
        }
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String { map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
}

extension Digest {
    var hexString: String { Array(self).hexString }
}
