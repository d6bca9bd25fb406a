/// A JSON value: what records, configurations and states are made of.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    /// The value as text for normalizing and indexing: strings as they are, numbers and
    /// booleans in their JSON spelling; nil for null, arrays and objects.
    public var scalarText: String? {
        switch self {
        case .string(let string): return string
        case .number, .bool: return canonicalJSON
        default: return nil
        }
    }

    /// Compact JSON with object keys sorted: equal values always give equal bytes, which is
    /// what the keyed content hash needs.
    public var canonicalJSON: String {
        String(decoding: canonicalJSONBytes, as: UTF8.self)
    }

    public var canonicalJSONBytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        appendCanonical(to: &output)
        return output
    }

    /// Appends the canonical encoding as UTF-8: on the write path of every record, so it works
    /// on bytes rather than building strings.
    public func appendCanonical(to output: inout [UInt8]) {
        switch self {
        case .null: output += Self.nullBytes
        case .bool(let value): output += value ? Self.trueBytes : Self.falseBytes
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 {
                output += String(Int64(value)).utf8
            } else {
                output += "\(value)".utf8
            }
        case .string(let value): Self.appendQuoted(value, to: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                value.appendCanonical(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let object):
            Self.appendObject(object, keys: object.keys.sorted(), to: &output)
        }
    }

    /// An object's members in the given key order (keys without a value are skipped).
    public static func appendObject(_ object: [String: JSONValue], keys: [String], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        var first = true
        for key in keys {
            guard let value = object[key] else { continue }
            if !first { output.append(UInt8(ascii: ",")) }
            first = false
            appendQuoted(key, to: &output)
            output.append(UInt8(ascii: ":"))
            value.appendCanonical(to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    private static let nullBytes = Array("null".utf8)
    private static let trueBytes = Array("true".utf8)
    private static let falseBytes = Array("false".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `string` as a JSON string literal, quotes included.
    public static func quoted(_ string: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(string.utf8.count + 2)
        appendQuoted(string, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// A JSON string literal. Bytes of multi-byte UTF-8 sequences are all ≥ 0x80, so only
    /// ASCII quotes, backslashes and control characters need escaping.
    public static func appendQuoted(_ string: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Most values need no escaping: copy them whole (this runs for every field of every record).
        let plain = string.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            output.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): output += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: output += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: output += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: output += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                output += Array("\\u00".utf8)
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(nilLiteral: ()) { self = .null }
}
