/// Python's `str()`, `repr()` and `json.dumps()` of evaluator values: Jinja renders with
/// `str()`, and the CDK then feeds that text to `ast.literal_eval`, so the spelling matters.
enum PyRepr {
    static func str(_ value: PyValue) -> String {
        switch value {
        case .string(let string): return string
        case .undefined: return ""
        default: return repr(value)
        }
    }

    static func repr(_ value: PyValue) -> String {
        switch value {
        case .none: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .float(let value): return float(value)
        case .string(let value): return string(value)
        case .list(let values): return "[" + values.map(repr).joined(separator: ", ") + "]"
        case .tuple(let values):
            return values.count == 1 ? "(\(repr(values[0])),)" : "(" + values.map(repr).joined(separator: ", ") + ")"
        case .dict(let dict):
            return "{" + dict.entries.map { "\(repr($0.key)): \(repr($0.value))" }.joined(separator: ", ") + "}"
        case .datetime(let datetime): return datetime.isoformat(separator: " ")
        case .date(let date): return date.dateString
        case .timedelta(let duration): return timedelta(duration)
        case .undefined: return ""
        case .function(let name): return "<function \(name)>"
        case .boundMethod(_, let name): return "<built-in method \(name)>"
        }
    }

    /// Python's float repr: shortest round-trip digits, exponent form from 1e16 and below 1e-4.
    static func float(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return value.description
    }

    /// `repr(str)`: single quotes unless the text holds one and no double quote.
    static func string(_ value: String) -> String {
        let quote: Character = value.contains("'") && !value.contains("\"") ? "\"" : "'"
        var output = String(quote)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if Character(scalar) == quote {
                    output += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\x" + (hex.count < 2 ? "0" : "") + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output.append(quote)
        return output
    }

    static func timedelta(_ duration: PyDuration) -> String {
        let (days, rest) = duration.micros.floorDivided(by: 86_400_000_000)
        let seconds = rest / 1_000_000, micros = rest % 1_000_000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(seconds / 3600):\(two(seconds % 3600 / 60)):\(two(seconds % 60))"
        if micros != 0 {
            let digits = String(micros)
            text += "." + String(repeating: "0", count: 6 - digits.count) + digits
        }
        if days != 0 { text = "\(days) day\(abs(days) == 1 ? "" : "s"), " + text }
        return text
    }

    /// `json.dumps(value)`: with Python's default separators, or `(",", ":")` when `compact`;
    /// `sortKeys` sorts every object's keys, as `sort_keys=True`.
    static func jsonDumps(_ value: PyValue, compact: Bool = false, sortKeys: Bool = false) throws -> String {
        let item = compact ? "," : ", ", pair = compact ? ":" : ": "
        func dumps(_ value: PyValue) throws -> String { try jsonDumps(value, compact: compact, sortKeys: sortKeys) }
        switch value {
        case .none: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .float(let value):
            if value.isNaN { return "NaN" }
            if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
            return float(value)
        case .string(let value): return jsonString(value)
        case .list(let values), .tuple(let values):
            return "[" + (try values.map(dumps)).joined(separator: item) + "]"
        case .dict(let dict):
            var members = try dict.entries.map { entry in
                let key: String
                switch entry.key {
                case .string(let string): key = string
                case .int, .float, .bool, .none: key = try jsonDumps(entry.key)
                default: throw ExpressionError("keys must be str, int, float, bool or None, not \(entry.key.typeName)")
                }
                return (key: key, text: jsonString(key) + pair + (try dumps(entry.value)))
            }
            if sortKeys { members.sort { Array($0.key.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.key.unicodeScalars.map(\.value)) } }
            return "{" + members.map(\.text).joined(separator: item) + "}"
        default:
            throw ExpressionError("Object of type \(value.typeName) is not JSON serializable")
        }
    }

    /// A JSON string as Python writes it (`ensure_ascii`: non-ASCII as `\uXXXX`).
    static func jsonString(_ value: String) -> String {
        var output = "\""
        for unit in value.utf16 {
            switch unit {
            case 0x22: output += "\\\""
            case 0x5C: output += "\\\\"
            case 0x0A: output += "\\n"
            case 0x0D: output += "\\r"
            case 0x09: output += "\\t"
            case 0x08: output += "\\b"
            case 0x0C: output += "\\f"
            case 0x20..<0x7F: output.unicodeScalars.append(Unicode.Scalar(unit)!)
            default:
                let hex = String(unit, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return output + "\""
    }
}

extension PyRepr {
    /// A JSON string literal keeping non-ASCII as UTF-8 (protocol output, not `json.dumps`).
    static func jsonStringUTF8(_ value: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(value.utf8.count + 2)
        appendJSONString(value, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// `jsonStringUTF8` written as bytes: non-ASCII passes through as UTF-8, and only quotes,
    /// backslashes and control characters are escaped. Works on the UTF-8 bytes directly, as
    /// it runs for every string of every record emitted.
    static func appendJSONString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        let utf8 = value.utf8
        // Native strings are contiguous UTF-8: scan the buffer itself, not the generic view.
        let plain = utf8.withContiguousStorageIfAvailable { bytes in
            !bytes.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        } ?? !utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        if plain {
            output.append(contentsOf: utf8)
        } else {
            let digits = Array("0123456789abcdef".utf8)
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case ..<0x20:
                    output.append(contentsOf: Array("\\u00".utf8))
                    output.append(digits[Int(byte >> 4)])
                    output.append(digits[Int(byte & 0x0F)])
                default: output.append(byte)
                }
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
