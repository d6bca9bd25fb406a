import Foundation
import HubCore

/// A five-field cron expression (minute, hour, day of month, month, day of week), read in
/// UTC: `*`, lists `1,15`, ranges `1-5`, steps `*/10` and `8-18/2`, day of week 0–7 with 0
/// and 7 both Sunday, and `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. As in cron,
/// when both day fields are restricted a day matching either one fires.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool
    public let description: String

    public init(_ text: String) throws {
        let shortcuts = ["@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
                         "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = shortcuts[trimmed.lowercased()] ?? trimmed
        let fields = expanded.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw HubError(.invalidInput, "cron expression '\(text)' has \(fields.count) fields; expected 5 (minute hour day-of-month month day-of-week)")
        }
        minutes = try Self.parse(fields[0], name: "minute", range: 0...59, in: text)
        hours = try Self.parse(fields[1], name: "hour", range: 0...23, in: text)
        daysOfMonth = try Self.parse(fields[2], name: "day of month", range: 1...31, in: text)
        months = try Self.parse(fields[3], name: "month", range: 1...12, in: text)
        daysOfWeek = Set(try Self.parse(fields[4], name: "day of week", range: 0...7, in: text).map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
        description = trimmed
    }

    private static func parse(_ field: String, name: String, range: ClosedRange<Int>, in text: String) throws -> Set<Int> {
        func invalid(_ why: String) -> HubError {
            HubError(.invalidInput, "cron expression '\(text)': \(name) field '\(field)' \(why)")
        }
        var values = Set<Int>()
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw invalid("has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else { throw invalid("has a step that is not a positive number") }
                step = parsed
            }
            let base = pieces[0]
            let bounds: ClosedRange<Int>
            if base == "*" {
                bounds = range
            } else if let dash = base.firstIndex(of: "-") {
                guard let low = Int(base[..<dash]), let high = Int(base[base.index(after: dash)...]), low <= high else {
                    throw invalid("has a range that is not LOW-HIGH")
                }
                bounds = low...high
            } else {
                guard let value = Int(base) else { throw invalid("is not a number, range, list or '*'") }
                bounds = value...(pieces.count == 2 ? range.upperBound : value)
            }
            guard range.contains(bounds.lowerBound), range.contains(bounds.upperBound) else {
                throw invalid("is outside \(range.lowerBound)-\(range.upperBound)")
            }
            values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return values
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .gmt
        return calendar
    }()

    /// The latest time at or before `date` that the expression fires; nil if none within
    /// about five years (say, the 31st of February).
    public func previousFire(atOrBefore date: Date) -> Date? {
        let calendar = Self.utc
        let start = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        guard let startDay = calendar.date(from: DateComponents(year: start.year, month: start.month, day: start.day)) else { return nil }
        for dayOffset in 0..<(5 * 366) {
            guard let day = calendar.date(byAdding: .day, value: -dayOffset, to: startDay) else { return nil }
            let parts = calendar.dateComponents([.month, .day, .weekday], from: day)
            guard let month = parts.month, let dayOfMonth = parts.day, let weekday = parts.weekday, months.contains(month) else {
                continue
            }
            let domMatch = daysOfMonth.contains(dayOfMonth)
            let dowMatch = daysOfWeek.contains(weekday - 1)
            let dayMatches = dayOfMonthRestricted && dayOfWeekRestricted ? (domMatch || dowMatch) : (domMatch && dowMatch)
            guard dayMatches else { continue }
            let lastHour = dayOffset == 0 ? (start.hour ?? 23) : 23
            for hour in hours.filter({ $0 <= lastHour }).sorted(by: >) {
                let lastMinute = dayOffset == 0 && hour == lastHour ? (start.minute ?? 59) : 59
                guard let minute = minutes.filter({ $0 <= lastMinute }).max() else { continue }
                return calendar.date(byAdding: DateComponents(hour: hour, minute: minute), to: day)
            }
        }
        return nil
    }
}
