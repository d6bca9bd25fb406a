/// Wraps a credential or a decrypted field so that nothing prints it by accident.
///
/// `description`, `debugDescription`, string interpolation, `dump` and `Encodable` all produce
/// `<redacted>`. The value is reachable only through `revealed`, which makes every use of a
/// secret visible in review.
public struct Secret<Value: Sendable>: Sendable {
    public static var redactedText: String { "<redacted>" }

    private let value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// The secret itself; use it only where it must leave the wrapper (a cipher, a socket).
    public var revealed: Value { value }

    public func map<T: Sendable>(_ transform: (Value) throws -> T) rethrows -> Secret<T> {
        Secret<T>(try transform(value))
    }
}

extension Secret: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { Self.redactedText }
    public var debugDescription: String { "Secret(\(Self.redactedText))" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension Secret: Equatable where Value: Equatable {}
extension Secret: Hashable where Value: Hashable {}

/// Encoding never writes the value: a secret that reaches a log line or a response as JSON
/// shows `"<redacted>"`. Code that must persist a secret encrypts `revealed` instead.
extension Secret: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Self.redactedText)
    }
}

/// Decoding reads the real value: secrets arrive from stdin, files and request bodies.
extension Secret: Decodable where Value: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.init(try container.decode(Value.self))
    }
}
