import Foundation

/// The CDK's interpolation macros (`airbyte_cdk/sources/declarative/interpolation/macros.py`),
/// reading the injected clock instead of the system's.
enum Macros {
    static func call(_ name: String, _ args: [PyValue], _ kwargs: [String: PyValue], now: PyDateTime) throws -> PyValue {
        func argument(_ index: Int, _ keyword: String) -> PyValue? { index < args.count ? args[index] : kwargs[keyword] }
        func required(_ index: Int, _ keyword: String) throws -> PyValue {
            guard let value = argument(index, keyword) else {
                throw ExpressionError("\(name)() missing required argument: '\(keyword)'")
            }
            if case .undefined(let why) = value { throw ExpressionError(why, isUndefined: true) }
            return value
        }
        func text(_ value: PyValue, _ what: String) throws -> String {
            guard case .string(let string) = value else {
                throw Interpreter.undefinedOr(value, "\(name)() expects \(what) to be a string, not \(value.typeName)")
            }
            return string
        }
        switch name {
        case "now_utc": return .datetime(now.converted(toOffset: 0))
        case "today_utc": return .date(dateOnly(now.converted(toOffset: 0)))
        case "today_with_timezone":
            let zone = try text(try required(0, "timezone"), "timezone")
            guard ["UTC", "Etc/UTC", "GMT"].contains(zone) else {
                throw ExpressionError("today_with_timezone() supports only UTC in Tributary, not \(PyRepr.string(zone))")
            }
            return .date(dateOnly(now.converted(toOffset: 0)))
        case "timestamp":
            let value = try required(0, "dt")
            switch value {
            case .int(let number): return .int(number)
            case .float(let number):
                guard let whole = ExpressionLimits.truncated(number) else { throw ExpressionError("timestamp(): \(PyRepr.float(number)) is out of range") }
                return .int(whole)
            case .bool(let flag): return .int(flag ? 1 : 0)
            default: return .float(try toDatetime(try text(value, "dt")).timestamp)
            }
        case "str_to_datetime": return .datetime(try toDatetime(try text(try required(0, "s"), "s")))
        case "max", "min":
            var candidates = args
            if candidates.count == 1 { candidates = try Filters.items(of: candidates[0]) }
            guard var best = candidates.first else { throw ExpressionError("\(name)() arg is an empty sequence") }
            for candidate in candidates.dropFirst() {
                let order = try Operators.ordering(candidate, best, name == "max" ? ">" : "<")
                if name == "max" ? order > 0 : order < 0 { best = candidate }
            }
            return best
        case "day_delta":
            let days = try required(0, "num_days")
            guard let count = Operators.number(days) else { throw ExpressionError("day_delta() expects a number of days") }
            let format = try argument(1, "format").map { try text($0, "format") } ?? "%Y-%m-%dT%H:%M:%S.%f%z"
            return .string(try now.converted(toOffset: 0).adding(PyDuration(seconds: count * 86_400)).strftime(format))
        case "duration": return .timedelta(try ISO8601.parseDuration(try text(try required(0, "datestring"), "datestring")))
        case "format_datetime":
            let value = try required(0, "dt")
            let format = try text(try required(1, "format"), "format")
            let inputFormat = try argument(2, "input_format").flatMap { $0 == .none ? nil : try text($0, "input_format") }
            var datetime: PyDateTime
            switch value {
            case .datetime(let given): return .string(given.strftime(format))
            case .int(let number): datetime = try AirbyteDatetime.parse(String(number), format: inputFormat ?? "%s")
            case .string(let string):
                datetime = try inputFormat.map { try PyStrptime.parse(string, format: $0) } ?? toDatetime(string)
            default: throw Interpreter.undefinedOr(value, "format_datetime() cannot format a \(value.typeName)")
            }
            if datetime.offset == nil { datetime.offset = 0 }
            return .string(AirbyteDatetime.format(datetime, format: format))
        case "sanitize_url":
            return .string(quotePlus(try text(try required(0, "value"), "value")))
        case "camel_case_to_snake_case":
            let value = try text(try required(0, "value"), "value")
            var output = ""
            for (offset, character) in value.enumerated() {
                if offset > 0, character.isUppercase { output += "_" }
                output += character.lowercased()
            }
            return .string(output)
        case "generate_uuid": return .string(UUID().uuidString.lowercased())
        default: throw ExpressionError("'\(name)' is not a function")
        }
    }

    /// The macros' `str_to_datetime`: ISO 8601, UTC when no offset is given, converted to UTC.
    static func toDatetime(_ text: String) throws -> PyDateTime {
        var parsed = try ISO8601.parseDateTime(text)
        if parsed.offset == nil { parsed.offset = 0 }
        return parsed.converted(toOffset: 0)
    }

    static func dateOnly(_ datetime: PyDateTime) -> PyDateTime {
        PyDateTime(wallMicros: datetime.wallMicros.floorDivided(by: 86_400_000_000).quotient * 86_400_000_000, offset: nil)
    }

    /// `urllib.parse.quote_plus`.
    static func quotePlus(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "): output += "+"
            default: output += String(format: "%%%02X", byte)
            }
        }
        return output
    }
}
