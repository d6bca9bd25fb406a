import Foundation
import HubCore

/// When the provider last changed a record, read from its cursor field: an ISO 8601 text
/// (as dateutil's isoparse reads it) or a Unix time in seconds or, when too large for
/// seconds, milliseconds. Anything else has no timestamp, and then no ordering is enforced.
public enum SourceTimestamp {
    public static func parse(_ value: JSONValue?) -> Date? {
        switch value {
        case .string(let text)?:
            if let number = Double(text) { return epoch(number) }
            guard let parsed = try? ISO8601.parseDateTime(text) else { return nil }
            return Date(timeIntervalSince1970: Double(parsed.epochMicros) / 1_000_000)
        case .number(let number)?:
            return epoch(number)
        default:
            return nil
        }
    }

    private static func epoch(_ number: Double) -> Date? {
        guard number.isFinite, number > 0 else { return nil }
        return Date(timeIntervalSince1970: number >= 100_000_000_000 ? number / 1000 : number)
    }
}
