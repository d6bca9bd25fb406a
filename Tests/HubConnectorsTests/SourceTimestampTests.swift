import Foundation
import HubConnectors
import HubCore
import Testing

/// A record's cursor read as the provider's change time, parsed as dateutil's `isoparse` reads
/// it (each expected time below is what `isoparse(...).timestamp()` gives in CPython 3.11, a
/// naive time taken as UTC), and Unix times in seconds or milliseconds.
@Suite("Source timestamps")
struct SourceTimestampTests {
    @Test("ISO 8601 texts in the forms isoparse reads", arguments: [
        ("2024-06-01T12:34:56Z", 1_717_245_296.0),
        ("2024-06-01T12:34:56.123456789+02:00", 1_717_238_096.123456),
        ("2024-06-01 12:34", 1_717_245_240.0),
        ("20240601T1234", 1_717_245_240.0),
        ("2024-06-01T12:34:56,5-0530", 1_717_265_096.5),
        ("2024-06-01", 1_717_200_000.0),
        ("2024-06-01T24:00:00Z", 1_717_286_400.0),
    ])
    func isoTexts(text: String, expected: Double) {
        let parsed = SourceTimestamp.parse(.string(text))
        #expect(parsed.map { abs($0.timeIntervalSince1970 - expected) < 0.000_001 } == true, "\(text): \(String(describing: parsed))")
    }

    @Test("numbers are seconds, or milliseconds when too large; anything else has no time")
    func numbersAndRefusals() {
        #expect(SourceTimestamp.parse(.number(1_717_245_296))?.timeIntervalSince1970 == 1_717_245_296)
        #expect(SourceTimestamp.parse(.number(1_717_245_296_000))?.timeIntervalSince1970 == 1_717_245_296)
        #expect(SourceTimestamp.parse(.string("1717245296"))?.timeIntervalSince1970 == 1_717_245_296)
        for bad in ["2024-13-01", "2024-02-30", "2024-06-01T25:00", "2024-06-01T12:60", "2024-06-01T12:00:00.Z", "yesterday", "", "2024-06-01T12:00:00+"] {
            #expect(SourceTimestamp.parse(.string(bad)) == nil, "\(bad)")
        }
        #expect(SourceTimestamp.parse(.bool(true)) == nil)
        #expect(SourceTimestamp.parse(nil) == nil)
    }
}
