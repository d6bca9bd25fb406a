import CoreMetrics
import Foundation
import Synchronization

/// Metrics kept in memory and rendered in Prometheus's text format at `/metrics`. It is also a
/// swift-metrics backend: bootstrapped once per process (by the command line), it collects what
/// the queue and the rest record through swift-metrics. The API records its request metrics
/// here directly, so they exist even where nothing was bootstrapped (tests).
public final class PrometheusRegistry: MetricsFactory, Sendable {
    /// Latency buckets in seconds: 1 ms to 10 s.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram: Sendable {
        var counts = [Int](repeating: 0, count: PrometheusRegistry.buckets.count)
        var sum = 0.0
        var count = 0

        mutating func observe(_ value: Double) {
            for (index, bound) in PrometheusRegistry.buckets.enumerated() where value <= bound { counts[index] += 1 }
            sum += value
            count += 1
        }
    }

    struct State: Sendable {
        var counters: [String: [String: Double]] = [:]
        var gauges: [String: [String: Double]] = [:]
        var histograms: [String: [String: Histogram]] = [:]
        var help: [String: String] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: - Recording

    public func increment(_ name: String, _ labels: [(String, String)] = [], by amount: Double = 1) {
        let key = Self.labelText(labels)
        state.withLock { $0.counters[Self.sanitize(name), default: [:]][key, default: 0] += amount }
    }

    public func set(_ name: String, _ labels: [(String, String)] = [], to value: Double) {
        let key = Self.labelText(labels)
        state.withLock { $0.gauges[Self.sanitize(name), default: [:]][key] = value }
    }

    func adjust(_ name: String, _ labels: [(String, String)], by amount: Double) {
        let key = Self.labelText(labels)
        state.withLock { $0.gauges[Self.sanitize(name), default: [:]][key, default: 0] += amount }
    }

    public func observe(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        let key = Self.labelText(labels)
        state.withLock { $0.histograms[Self.sanitize(name), default: [:]][key, default: Histogram()].observe(value) }
    }

    public func describe(_ name: String, _ help: String) {
        state.withLock { $0.help[Self.sanitize(name)] = help }
    }

    // MARK: - Rendering

    /// The text exposition format (version 0.0.4), with `extra` gauges (read from the
    /// database at scrape time) after the recorded series.
    public func render(extra: [(name: String, help: String, samples: [([(String, String)], Double)])] = []) -> String {
        let snapshot = state.withLock { $0 }
        var output = ""
        func header(_ name: String, _ type: String) {
            if let help = snapshot.help[name] { output += "# HELP \(name) \(help)\n" }
            output += "# TYPE \(name) \(type)\n"
        }
        for name in snapshot.counters.keys.sorted() {
            header(name, "counter")
            for (labels, value) in snapshot.counters[name]!.sorted(by: { $0.key < $1.key }) {
                output += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(Self.format(value))\n"
            }
        }
        for name in snapshot.gauges.keys.sorted() {
            header(name, "gauge")
            for (labels, value) in snapshot.gauges[name]!.sorted(by: { $0.key < $1.key }) {
                output += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(Self.format(value))\n"
            }
        }
        for name in snapshot.histograms.keys.sorted() {
            header(name, "histogram")
            for (labels, histogram) in snapshot.histograms[name]!.sorted(by: { $0.key < $1.key }) {
                let prefix = labels.isEmpty ? "" : labels + ","
                for (index, bound) in Self.buckets.enumerated() {
                    output += "\(name)_bucket{\(prefix)le=\"\(Self.format(bound))\"} \(histogram.counts[index])\n"
                }
                output += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(histogram.count)\n"
                output += "\(name)_sum\(labels.isEmpty ? "" : "{\(labels)}") \(Self.format(histogram.sum))\n"
                output += "\(name)_count\(labels.isEmpty ? "" : "{\(labels)}") \(histogram.count)\n"
            }
        }
        for metric in extra {
            let name = Self.sanitize(metric.name)
            output += "# HELP \(name) \(metric.help)\n# TYPE \(name) gauge\n"
            for (labels, value) in metric.samples.sorted(by: { Self.labelText($0.0) < Self.labelText($1.0) }) {
                let text = Self.labelText(labels)
                output += "\(name)\(text.isEmpty ? "" : "{\(text)}") \(Self.format(value))\n"
            }
        }
        return output
    }

    static func sanitize(_ name: String) -> String {
        // Names are almost always valid already; this runs for every request's metrics.
        if name.utf8.allSatisfy(isNameByte) { return name }
        return String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: ":"):
            return true
        default:
            return false
        }
    }

    /// Label values escaped as the exposition format wants (backslash, quote, newline), by
    /// hand: Foundation's `replacingOccurrences` bridges through NSString on Linux, and this
    /// runs for every request.
    static func labelText(_ labels: [(String, String)]) -> String {
        var text = ""
        for (index, (name, value)) in labels.sorted(by: { $0.0 < $1.0 }).enumerated() {
            if index > 0 { text += "," }
            text += sanitize(name)
            text += "=\""
            for character in value.unicodeScalars {
                switch character {
                case "\\": text += "\\\\"
                case "\"": text += "\\\""
                case "\n": text += "\\n"
                default: text.unicodeScalars.append(character)
                }
            }
            text += "\""
        }
        return text
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    // MARK: - swift-metrics backend

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(registry: self, name: label, labels: dimensions, kind: .counter)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(registry: self, name: label, labels: dimensions, kind: .counter)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        Handler(registry: self, name: label, labels: dimensions, kind: .gauge)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(registry: self, name: label, labels: dimensions, kind: aggregate ? .histogram : .gauge)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(registry: self, name: label, labels: dimensions, kind: .histogram)
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    /// One handler type for every swift-metrics kind; it writes through to the registry.
    final class Handler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler, Sendable {
        enum Kind { case counter, gauge, histogram }
        let registry: PrometheusRegistry
        let name: String
        let labels: [(String, String)]
        let kind: Kind

        init(registry: PrometheusRegistry, name: String, labels: [(String, String)], kind: Kind) {
            self.registry = registry
            self.name = name
            self.labels = labels
            self.kind = kind
        }

        func increment(by amount: Int64) { increment(by: Double(amount)) }
        func increment(by amount: Double) {
            if kind == .gauge { registry.adjust(name, labels, by: amount) } else { registry.increment(name, labels, by: amount) }
        }
        func decrement(by amount: Double) { registry.adjust(name, labels, by: -amount) }
        func reset() {}
        func set(_ value: Int64) { registry.set(name, labels, to: Double(value)) }
        func set(_ value: Double) { registry.set(name, labels, to: value) }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) {
            if kind == .histogram { registry.observe(name, labels, value) } else { registry.set(name, labels, to: value) }
        }
        func recordNanoseconds(_ duration: Int64) { registry.observe(name, labels, Double(duration) / 1e9) }
    }
}
