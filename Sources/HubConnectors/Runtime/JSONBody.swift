/// JSON bytes to evaluator values and back, directly (no Foundation round trip): integers stay
/// ints, object order is kept, and a malformed body is an error that says where.
enum JSONBody {
    static func decode(_ bytes: [UInt8], path: ManifestPath) throws -> PyValue {
        var parser = Parser(bytes: bytes)
        do {
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.position == bytes.count else { throw parser.failure("unexpected data after the JSON value") }
            return value
        } catch let error as ExpressionError {
            throw ResponseDecodingError(message: error.message)
        }
    }

    struct Parser {
        let bytes: [UInt8]
        var position = 0

        func failure(_ message: String) -> ExpressionError {
            ExpressionError("invalid JSON at byte \(position): \(message)")
        }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
        }

        mutating func parseValue(depth: Int) throws -> PyValue {
            guard depth < 512 else { throw failure("nested too deeply") }
            guard position < bytes.count else { throw failure("the body ends early (truncated?)") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var dict = PyDict()
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .dict(dict) }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
                    let key = try parseString()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                    position += 1
                    skipWhitespace()
                    dict[key] = try parseValue(depth: depth + 1)
                    skipWhitespace()
                    guard position < bytes.count else { throw failure("the body ends early (truncated?)") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    guard bytes[position] == UInt8(ascii: "}") else { throw failure("expected ',' or '}'") }
                    position += 1
                    return .dict(dict)
                }
            case UInt8(ascii: "["):
                position += 1
                var items: [PyValue] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .list(items) }
                while true {
                    skipWhitespace()
                    items.append(try parseValue(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw failure("the body ends early (truncated?)") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    guard bytes[position] == UInt8(ascii: "]") else { throw failure("expected ',' or ']'") }
                    position += 1
                    return .list(items)
                }
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .none
            default: return try parseNumber()
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw failure("the body ends early (truncated?)") }
            for offset in 0..<count where bytes[position + offset] != word.utf8Start[offset] {
                throw failure("unexpected character")
            }
            position += count
        }

        mutating func parseNumber() throws -> PyValue {
            let start = position
            var isFloat = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
            while position < bytes.count {
                let byte = bytes[position]
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { position += 1; continue }
                if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
                    || ((byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")) && isFloat) {
                    isFloat = true
                    position += 1
                    continue
                }
                break
            }
            guard position > start else { throw failure("unexpected character") }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            if !isFloat, let value = Int(text) { return .int(value) }
            guard let value = Double(text) else { throw failure("invalid number \(text)") }
            return .float(value)
        }

        mutating func parseString() throws -> String {
            position += 1
            let start = position
            // Fast path: no escapes.
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: bytes[start..<position], as: UTF8.self)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                position += 1
            }
            var output = Array(bytes[start..<position])
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    position += 1
                    return String(decoding: output, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") {
                    guard position + 1 < bytes.count else { break }
                    let escape = bytes[position + 1]
                    position += 2
                    switch escape {
                    case UInt8(ascii: "n"): output.append(0x0A)
                    case UInt8(ascii: "t"): output.append(0x09)
                    case UInt8(ascii: "r"): output.append(0x0D)
                    case UInt8(ascii: "b"): output.append(0x08)
                    case UInt8(ascii: "f"): output.append(0x0C)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar), position + 1 < bytes.count,
                           bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                            position += 2
                            let low = try hex4()
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        output += Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
                    default: output.append(escape)
                    }
                    continue
                }
                output.append(byte)
                position += 1
            }
            throw failure("unterminated string (truncated?)")
        }

        mutating func hex4() throws -> UInt32 {
            guard position + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16) else {
                throw failure("invalid \\u escape")
            }
            position += 4
            return value
        }
    }

    /// Compact JSON in insertion order, for protocol messages.
    static func encode(_ value: PyValue, into output: inout [UInt8]) {
        switch value {
        case .none, .undefined: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): output.append(contentsOf: String(number).utf8)
        case .float(let number):
            if number.isFinite { output.append(contentsOf: PyRepr.float(number).utf8) } else { output.append(contentsOf: "null".utf8) }
        case .string(let text): PyRepr.appendJSONString(text, to: &output)
        case .list(let items), .tuple(let items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                encode(item, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .dict(let dict):
            output.append(UInt8(ascii: "{"))
            for (index, entry) in dict.entries.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                if case .string(let key) = entry.key {
                    PyRepr.appendJSONString(key, to: &output)
                } else {
                    PyRepr.appendJSONString(PyRepr.str(entry.key), to: &output)
                }
                output.append(UInt8(ascii: ":"))
                encode(entry.value, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .datetime, .date, .timedelta, .function, .boundMethod:
            PyRepr.appendJSONString(PyRepr.str(value), to: &output)
        }
    }

    static func encode(_ value: PyValue) -> String {
        var output: [UInt8] = []
        encode(value, into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}

/// A response body that is not the JSON the connector expects.
public struct ResponseDecodingError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
