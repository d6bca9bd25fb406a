import Foundation

/// The methods and attributes expressions may use on values: the ones the manifests use,
/// and nothing that reaches beyond the value itself.
enum Methods {
    static let stringMethods: Set<String> = [
        "endswith", "startswith", "split", "rsplit", "replace", "lower", "upper", "strip", "lstrip", "rstrip",
        "join", "isdigit", "isnumeric", "title", "capitalize", "find", "count", "zfill", "format",
    ]
    static let dictMethods: Set<String> = ["get", "keys", "values", "items"]
    static let listMethods: Set<String> = ["index", "count"]
    static let datetimeMethods: Set<String> = [
        "strftime", "timestamp", "isoformat", "date", "replace", "astimezone", "weekday", "isoweekday",
    ]

    static func has(_ value: PyValue, _ name: String) -> Bool {
        switch value {
        case .string: return stringMethods.contains(name)
        case .dict: return dictMethods.contains(name)
        case .list, .tuple: return listMethods.contains(name)
        case .datetime: return datetimeMethods.contains(name)
        case .date: return ["strftime", "isoformat", "weekday", "isoweekday", "replace"].contains(name)
        case .timedelta: return name == "total_seconds"
        default: return false
        }
    }

    static func property(_ value: PyValue, _ name: String) -> PyValue? {
        switch value {
        case .datetime(let datetime), .date(let datetime):
            let c = datetime.components
            switch name {
            case "year": return .int(c.year)
            case "month": return .int(c.month)
            case "day": return .int(c.day)
            case "hour": return .int(c.hour)
            case "minute": return .int(c.minute)
            case "second": return .int(c.second)
            case "microsecond": return .int(c.microsecond)
            default: return nil
            }
        case .timedelta(let duration):
            switch name {
            case "days": return .int(Int(duration.micros.floorDivided(by: 86_400_000_000).quotient))
            case "seconds": return .int(Int(duration.micros.floorDivided(by: 86_400_000_000).remainder / 1_000_000))
            case "microseconds": return .int(Int(duration.micros % 1_000_000))
            default: return nil
            }
        default: return nil
        }
    }

    static func call(_ receiver: PyValue, _ name: String, _ args: [PyValue], _ kwargs: [String: PyValue]) throws -> PyValue {
        func argument(_ index: Int, _ keyword: String) -> PyValue? { index < args.count ? args[index] : kwargs[keyword] }
        func stringArgument(_ index: Int, _ keyword: String) throws -> String? {
            switch argument(index, keyword) {
            case nil, .none?: return nil
            case .string(let string)?: return string
            case let other?: throw Interpreter.undefinedOr(other, "\(name)() argument must be str, not \(other.typeName)")
            }
        }
        switch receiver {
        case .string(let string):
            switch name {
            case "endswith", "startswith":
                let candidates: [PyValue]
                switch argument(0, "suffix") ?? argument(0, "prefix") {
                case .tuple(let items)?: candidates = items
                case let item?: candidates = [item]
                case nil: throw ExpressionError("\(name)() takes at least 1 argument (0 given)")
                }
                return .bool(try candidates.contains { candidate in
                    guard case .string(let affix) = candidate else {
                        throw Interpreter.undefinedOr(candidate, "\(name) first arg must be str or a tuple of str")
                    }
                    return name == "endswith" ? string.hasSuffix(affix) : string.hasPrefix(affix)
                })
            case "split", "rsplit":
                let separator = try stringArgument(0, "sep")
                let limit = argument(1, "maxsplit").flatMap(Operators.integer) ?? -1
                return .list(StringFunctions.split(string, separator: separator, limit: limit, fromRight: name == "rsplit").map(PyValue.string))
            case "replace":
                guard let old = try stringArgument(0, "old"), let new = try stringArgument(1, "new") else {
                    throw ExpressionError("replace() takes 2 string arguments")
                }
                return .string(try StringFunctions.replace(string, old, with: new))
            case "lower": return .string(string.lowercased())
            case "upper": return .string(string.uppercased())
            case "strip", "lstrip", "rstrip":
                let characters = try stringArgument(0, "chars").map(Set.init)
                return .string(StringFunctions.strip(string, characters: characters, leading: name != "rstrip", trailing: name != "lstrip"))
            case "join":
                guard let iterable = argument(0, "iterable") else { throw ExpressionError("join() takes exactly one argument") }
                let parts = try Filters.items(of: iterable).map { item in
                    guard case .string(let text) = item else {
                        throw ExpressionError("sequence item: expected str instance, \(item.typeName) found")
                    }
                    return text
                }
                try ExpressionLimits.checkSize(parts.reduce(string.utf8.count * parts.count) { $0 + $1.utf8.count }, "join")
                return .string(parts.joined(separator: string))
            case "isdigit", "isnumeric": return .bool(!string.isEmpty && string.allSatisfy(\.isNumber))
            case "title", "capitalize": return .string(StringFunctions.titled(string, everyWord: name == "title"))
            case "find":
                guard let needle = try stringArgument(0, "sub") else { throw ExpressionError("find() takes a string") }
                guard let range = string.range(of: needle) else { return .int(-1) }
                return .int(string.distance(from: string.startIndex, to: range.lowerBound))
            case "count":
                guard let needle = try stringArgument(0, "sub"), !needle.isEmpty else { return .int(string.count + 1) }
                return .int(string.components(separatedBy: needle).count - 1)
            case "zfill":
                let width = argument(0, "width").flatMap(Operators.integer) ?? 0
                try ExpressionLimits.checkSize(width, "zfill(\(width))")
                let sign = string.first == "-" || string.first == "+" ? String(string.first!) : ""
                let body = sign.isEmpty ? string : String(string.dropFirst())
                return .string(sign + String(repeating: "0", count: Swift.max(0, width - string.count)) + body)
            case "format": return .string(try StringFunctions.format(string, args, kwargs))
            default: break
            }
        case .dict(let dict):
            switch name {
            case "get":
                guard let key = argument(0, "key") else { throw ExpressionError("get expected at least 1 argument, got 0") }
                return dict[key] ?? argument(1, "default") ?? .none
            case "keys": return .list(dict.keys)
            case "values": return .list(dict.values)
            case "items": return .list(dict.entries.map { .tuple([$0.key, $0.value]) })
            default: break
            }
        case .list(let items), .tuple(let items):
            guard let needle = argument(0, "value") else { throw ExpressionError("\(name)() takes exactly one argument") }
            if name == "count" { return .int(items.filter { Operators.equal($0, needle) }.count) }
            guard let index = items.firstIndex(where: { Operators.equal($0, needle) }) else {
                // The value may be a credential from config: named by type only.
                throw ExpressionError("the \(needle.typeName) is not in the list")
            }
            return .int(index)
        case .datetime(let datetime), .date(let datetime):
            let isDate: Bool
            if case .date = receiver { isDate = true } else { isDate = false }
            switch name {
            case "strftime":
                guard let format = try stringArgument(0, "format") else { throw ExpressionError("strftime() takes a format string") }
                return .string(datetime.strftime(format))
            case "timestamp": return .float(datetime.timestamp)
            case "isoformat":
                if isDate { return .string(datetime.dateString) }
                return .string(datetime.isoformat(separator: try stringArgument(0, "sep") ?? "T"))
            case "date":
                return .date(PyDateTime(wallMicros: datetime.wallMicros.floorDivided(by: 86_400_000_000).quotient * 86_400_000_000, offset: nil))
            case "weekday": return .int(datetime.weekday)
            case "isoweekday": return .int(datetime.weekday + 1)
            case "astimezone": return .datetime(datetime.converted(toOffset: 0))
            case "replace":
                var result = datetime
                let c = datetime.components
                let fields = ["year": c.year, "month": c.month, "day": c.day, "hour": c.hour, "minute": c.minute,
                              "second": c.second, "microsecond": c.microsecond]
                var updated = fields
                for (key, value) in kwargs where key != "tzinfo" {
                    guard fields[key] != nil, let number = Operators.integer(value) else {
                        throw ExpressionError("replace() got an unexpected keyword argument '\(key)'")
                    }
                    updated[key] = number
                }
                result = PyDateTime(year: updated["year"]!, month: updated["month"]!, day: updated["day"]!,
                                    hour: updated["hour"]!, minute: updated["minute"]!, second: updated["second"]!,
                                    microsecond: updated["microsecond"]!, offset: datetime.offset)
                if let zone = kwargs["tzinfo"] { result.offset = zone == .none ? nil : 0 }
                return isDate ? .date(result) : .datetime(result)
            default: break
            }
        case .timedelta(let duration):
            if name == "total_seconds" { return .float(duration.totalSeconds) }
        default: break
        }
        throw ExpressionError("'\(receiver.typeName)' object has no method '\(name)'")
    }
}
