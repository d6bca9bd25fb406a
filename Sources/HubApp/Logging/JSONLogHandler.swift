import Foundation
import HubCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes each log event as one JSON object on one line: what log shippers expect from a
/// container's stdout.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: JSONLogOutput

    public init(label: String, level: Logger.Level, output: JSONLogOutput = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = "{\"ts\":\(JSONValue.quoted(Self.timestamp()))"
        line += ",\"level\":\(JSONValue.quoted(event.level.rawValue))"
        line += ",\"logger\":\(JSONValue.quoted(label))"
        line += ",\"msg\":\(JSONValue.quoted(event.message.description))"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["ts", "level", "logger", "msg"].contains(key) {
            line += ",\(JSONValue.quoted(key)):\(jsonValue(value))"
        }
        line += "}\n"
        output.write(line)
    }

    static func timestamp() -> String {
        let now = Date().timeIntervalSince1970
        var time = time_t(now.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        let millis = Int32((now - now.rounded(.down)) * 1000)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, millis
        )
    }
}

/// Where JSON log lines go; one lock per destination keeps lines whole across threads.
public final class JSONLogOutput: Sendable {
    private let descriptor: Int32
    private let lock = Mutex(())

    public static let standardOutput = JSONLogOutput(descriptor: STDOUT_FILENO)
    public static let standardError = JSONLogOutput(descriptor: STDERR_FILENO)

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    func write(_ line: String) {
        lock.withLock { _ in
            var bytes = Array(line.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                bytes = bytes.dropFirst(written)
            }
        }
    }
}

func jsonValue(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .string(let string): return JSONValue.quoted(string)
    case .stringConvertible(let convertible): return JSONValue.quoted(convertible.description)
    case .array(let values): return "[" + values.map(jsonValue).joined(separator: ",") + "]"
    case .dictionary(let dictionary):
        return "{" + dictionary.sorted { $0.key < $1.key }.map { "\(JSONValue.quoted($0.key)):\(jsonValue($0.value))" }
            .joined(separator: ",") + "}"
    }
}
