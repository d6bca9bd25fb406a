import Foundation

extension PyDateTime {
    static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August",
                             "September", "October", "November", "December"]
    static let dayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    /// Python's `strftime` (glibc directives), with `%s` as the epoch seconds of the instant.
    public func strftime(_ format: String) -> String {
        let c = components
        var output = ""
        var iterator = format.makeIterator()
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(abs(value))
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        while let character = iterator.next() {
            guard character == "%" else { output.append(character); continue }
            guard let directive = iterator.next() else { output.append("%"); break }
            switch directive {
            case "Y": output += String(c.year)
            case "y": output += pad(c.year % 100, 2)
            case "m": output += pad(c.month, 2)
            case "d": output += pad(c.day, 2)
            case "e": output += (c.day < 10 ? " " : "") + String(c.day)
            case "H": output += pad(c.hour, 2)
            case "I": output += pad(c.hour % 12 == 0 ? 12 : c.hour % 12, 2)
            case "p": output += c.hour < 12 ? "AM" : "PM"
            case "M": output += pad(c.minute, 2)
            case "S": output += pad(c.second, 2)
            case "f": output += pad(c.microsecond, 6)
            case "j": output += pad(dayOfYear, 3)
            case "b", "h": output += String(Self.monthNames[c.month - 1].prefix(3))
            case "B": output += Self.monthNames[c.month - 1]
            case "a": output += String(Self.dayNames[weekday].prefix(3))
            case "A": output += Self.dayNames[weekday]
            case "w": output += String((weekday + 1) % 7)
            case "u": output += String(weekday + 1)
            case "z": output += offset.map { Self.formatOffset($0, separator: "") } ?? ""
            case "Z": output += offset.map { $0 == 0 ? "UTC" : "UTC" + Self.formatOffset($0, separator: ":") } ?? ""
            case "s": output += String(epochMicros.floorDivided(by: 1_000_000).quotient)
            case "F": output += "\(c.year)-\(pad(c.month, 2))-\(pad(c.day, 2))"
            case "T": output += "\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2))"
            case "D": output += "\(pad(c.month, 2))/\(pad(c.day, 2))/\(pad(c.year % 100, 2))"
            case "%": output += "%"
            default: output += "%" + String(directive)
            }
        }
        return output
    }

    static func formatOffset(_ offset: Int, separator: String) -> String {
        let sign = offset < 0 ? "-" : "+"
        let magnitude = abs(offset)
        let hours = magnitude / 3600, minutes = magnitude % 3600 / 60, seconds = magnitude % 60
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = sign + two(hours) + separator + two(minutes)
        if seconds != 0 { text += separator + two(seconds) }
        return text
    }

    /// `isoformat(sep)`: microseconds only when non-zero, offset as `+HH:MM` when aware.
    public func isoformat(separator: String = "T") -> String {
        let c = components
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(repeating: "0", count: max(0, 4 - String(c.year).count)) + String(c.year)
        var text = "\(year)-\(two(c.month))-\(two(c.day))\(separator)\(two(c.hour)):\(two(c.minute)):\(two(c.second))"
        if c.microsecond != 0 {
            let digits = String(c.microsecond)
            text += "." + String(repeating: "0", count: 6 - digits.count) + digits
        }
        if let offset { text += Self.formatOffset(offset, separator: ":") }
        return text
    }

    /// `str(date)`.
    public var dateString: String {
        let c = components
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(c.year)-\(two(c.month))-\(two(c.day))"
    }
}

/// Airbyte's `DatetimeParser`: Python `strptime`/`strftime` plus its own `%s`, `%s_as_float`,
/// `%ms`, `%_ms` and `%epoch_microseconds`.
public enum AirbyteDatetime {
    public static func parse(_ text: String, format: String) throws -> PyDateTime {
        switch format {
        case "%s":
            guard let seconds = Int(text.trimmingSpaces) else { throw parseError(text, format) }
            // Timestamps come from third-party data: out of range is an error, never a trap.
            return try PyDateTime(checkedWallMicros: Int64(seconds).multipliedReportingOverflow(by: 1_000_000), offset: 0)
        case "%s_as_float":
            guard let seconds = Double(text.trimmingSpaces) else { throw parseError(text, format) }
            return try PyDateTime(epochSeconds: seconds)
        case "%epoch_microseconds":
            guard let micros = Int64(text.trimmingSpaces) else { throw parseError(text, format) }
            return try PyDateTime(checkedWallMicros: (micros, false), offset: 0)
        case "%ms":
            guard let millis = Int64(text.trimmingSpaces) else { throw parseError(text, format) }
            return try PyDateTime(checkedWallMicros: millis.multipliedReportingOverflow(by: 1000), offset: 0)
        default:
            var parsed = try PyStrptime.parse(text, format: format.replacingOccurrences(of: "%_ms", with: "%f"))
            if parsed.offset == nil { parsed.offset = 0 }
            return parsed
        }
    }

    public static func format(_ datetime: PyDateTime, format: String) -> String {
        switch format {
        case "%s": return String(Int64(datetime.timestamp.rounded(.towardZero)))
        case "%s_as_float": return PyRepr.float(datetime.timestamp)
        case "%epoch_microseconds": return String(datetime.epochMicros)
        case "%ms": return String(Int64((datetime.timestamp * 1000).rounded(.towardZero)))
        default:
            if format.contains("%_ms") {
                let micros = datetime.strftime("%f")
                let millis = datetime.components.microsecond / 1000
                let millisText = String(repeating: "0", count: 3 - String(millis).count) + String(millis)
                return datetime.strftime(format.replacingOccurrences(of: "%_ms", with: "%f"))
                    .replacingOccurrences(of: micros, with: millisText)
            }
            return datetime.strftime(format)
        }
    }

    static func parseError(_ text: String, _ format: String) -> ExpressionError {
        ExpressionError("time data \(PyRepr.string(text)) does not match format \(PyRepr.string(format))")
    }
}

extension String {
    var trimmingSpaces: Substring {
        let scalars = unicodeScalars
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end, scalars[start].properties.isWhitespace { start = scalars.index(after: start) }
        while end > start, scalars[scalars.index(before: end)].properties.isWhitespace { end = scalars.index(before: end) }
        return Substring(scalars[start..<end])
    }
}
