import HubCore

/// A value inside the expression evaluator, with Python's types: manifests are written for
/// Jinja over Python objects, so `int` and `float` differ, dictionaries keep insertion order,
/// and datetimes and durations are values of their own.
public indirect enum PyValue: Sendable, Hashable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list([PyValue])
    case tuple([PyValue])
    case dict(PyDict)
    case datetime(PyDateTime)
    case date(PyDateTime)
    case timedelta(PyDuration)
    /// Jinja's `Undefined`: a missing variable, key or attribute. It renders as "" and is falsy;
    /// using it further (a subscript, a call) is an `UndefinedError`.
    case undefined(String)
    case function(String)
    case boundMethod(PyBox, String)

    public init(json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let value): self = .bool(value)
        case .number(let value):
            // JSON has one number type; integral values are Python ints, as `json.loads` gives.
            if value.rounded() == value, abs(value) < 9.0e15 { self = .int(Int(value)) } else { self = .float(value) }
        case .string(let value): self = .string(value)
        case .array(let values): self = .list(values.map(PyValue.init(json:)))
        case .object(let object):
            var dict = PyDict()
            for key in object.keys.sorted() { dict[key] = PyValue(json: object[key]!) }
            self = .dict(dict)
        }
    }

    /// The value as JSON; datetimes become their `str()`, as `json.dumps(default=str)` would.
    public var json: JSONValue {
        switch self {
        case .none, .undefined: return .null
        case .bool(let value): return .bool(value)
        case .int(let value): return .number(Double(value))
        case .float(let value): return .number(value)
        case .string(let value): return .string(value)
        case .list(let values), .tuple(let values): return .array(values.map(\.json))
        case .dict(let dict):
            var object: [String: JSONValue] = [:]
            object.reserveCapacity(dict.count)
            for (key, value) in dict.entries { object[PyRepr.str(key)] = value.json }
            return .object(object)
        case .datetime, .date, .timedelta, .function, .boundMethod: return .string(PyRepr.str(self))
        }
    }

    public var isTruthy: Bool {
        switch self {
        case .none, .undefined: return false
        case .bool(let value): return value
        case .int(let value): return value != 0
        case .float(let value): return value != 0
        case .string(let value): return !value.isEmpty
        case .list(let values), .tuple(let values): return !values.isEmpty
        case .dict(let dict): return !dict.isEmpty
        case .timedelta(let duration): return !duration.isZero
        case .datetime, .date, .function, .boundMethod: return true
        }
    }

    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    var typeName: String {
        switch self {
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .datetime: return "datetime"
        case .date: return "date"
        case .timedelta: return "timedelta"
        case .undefined: return "Undefined"
        case .function: return "function"
        case .boundMethod: return "method"
        }
    }
}

/// A reference box so a bound method can carry its receiver inside an indirect enum cheaply.
public final class PyBox: Sendable, Hashable {
    public let value: PyValue
    init(_ value: PyValue) { self.value = value }
    public static func == (lhs: PyBox, rhs: PyBox) -> Bool { lhs.value == rhs.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

/// An insertion-ordered dictionary, as Python's. Records are small objects, so lookups scan
/// the entries and a hash index is built only once a dictionary grows past a few keys.
public struct PyDict: Sendable, Hashable {
    public private(set) var entries: [(key: PyValue, value: PyValue)] = []
    private var index: [PyValue: Int]?
    private static let indexThreshold = 12

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
    public var keys: [PyValue] { entries.map(\.key) }
    public var values: [PyValue] { entries.map(\.value) }

    private func position(of key: PyValue) -> Int? {
        if let index { return index[key.hashKey] }
        let wanted = key.hashKey
        if case .string(let text) = wanted {
            for offset in entries.indices {
                if case .string(let candidate) = entries[offset].key, candidate == text { return offset }
            }
            return nil
        }
        return entries.firstIndex { $0.key.hashKey == wanted }
    }

    public subscript(key: PyValue) -> PyValue? {
        get { position(of: key).map { entries[$0].value } }
        set {
            if let offset = position(of: key) {
                if let newValue { entries[offset].value = newValue } else { remove(at: offset) }
            } else if let newValue {
                entries.append((key, newValue))
                if index != nil {
                    index![key.hashKey] = entries.count - 1
                } else if entries.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    public subscript(key: String) -> PyValue? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }

    private mutating func rebuildIndex() {
        var built: [PyValue: Int] = [:]
        built.reserveCapacity(entries.count)
        for (offset, entry) in entries.enumerated() { built[entry.key.hashKey] = offset }
        index = built
    }

    private mutating func remove(at position: Int) {
        entries.remove(at: position)
        if index != nil { rebuildIndex() }
    }

    public static func == (lhs: PyDict, rhs: PyDict) -> Bool {
        lhs.count == rhs.count && lhs.entries.allSatisfy { rhs[$0.key] == $0.value }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(count) }
}

extension PyValue {
    /// Python hashes `1`, `1.0` and `True` alike; dictionary keys follow.
    var hashKey: PyValue {
        switch self {
        case .bool(let value): return .int(value ? 1 : 0)
        case .float(let value) where value.rounded() == value && abs(value) < 9.0e18: return .int(Int(value))
        default: return self
        }
    }
}
