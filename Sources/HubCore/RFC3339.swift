import Foundation

/// Timestamps as the APIs write them.
package enum RFC3339 {
    /// `2026-01-02T03:04:05Z`, as Foundation's `.iso8601` style writes it, without its cost
    /// (this runs twice per record on the records API).
    package static func string(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
