/// Checks a connector configuration against its spec's JSON Schema (the subset specs use:
/// `required`, `type`, `enum`, nested `properties`), naming every bad field at once.
public enum ConfigValidator {
    public static func problems(_ config: PyValue, schema: PyValue?) -> [String] {
        guard let schema else { return [] }
        var found: [String] = []
        check(config, schema: schema, path: "config", into: &found)
        return found
    }

    private static func check(_ value: PyValue, schema: PyValue, path: String, into found: inout [String]) {
        guard case .dict(let rules) = schema else { return }
        if let expected = rules["type"], !matches(value, type: expected) {
            found.append("\(path): expected \(describe(expected)), found \(value.typeName == "dict" ? "object" : value.typeName)")
            return
        }
        if case .list(let allowed)? = rules["enum"], !allowed.contains(where: { Operators.equal($0, value) }) {
            found.append("\(path): must be one of \(allowed.map(PyRepr.repr).joined(separator: ", "))")
        }
        // JSON Schema patterns are ECMA-262; the ones specs use read the same as Swift's.
        if case .string(let pattern)? = rules["pattern"], case .string(let text) = value,
           let regex = try? Regex(pattern), (try? regex.firstMatch(in: text)) == nil {
            // A secret's value never goes into an error message.
            let shown = rules["airbyte_secret"] == .bool(true) ? "the value" : PyRepr.string(text)
            found.append("\(path): \(shown) does not match \(PyRepr.string(pattern))")
        }
        guard case .dict(let object) = value else { return }
        if case .list(let required)? = rules["required"] {
            for case .string(let key) in required where object[key] == nil || object[key] == PyValue.none {
                found.append("\(path).\(key): is required")
            }
        }
        if case .dict(let properties)? = rules["properties"] {
            for (key, child) in properties.entries {
                if let item = object[key], item != PyValue.none {
                    check(item, schema: child, path: "\(path).\(PyRepr.str(key))", into: &found)
                }
            }
        }
    }

    private static func matches(_ value: PyValue, type: PyValue) -> Bool {
        switch type {
        case .list(let types): return types.contains { matches(value, type: $0) }
        case .string(let name):
            switch (name, value) {
            case ("string", .string), ("boolean", .bool), ("object", .dict), ("array", .list), ("null", .none): return true
            case ("integer", .int): return true
            case ("integer", .float(let number)): return number.rounded() == number
            case ("number", .int), ("number", .float): return true
            default: return false
            }
        default: return true
        }
    }

    private static func describe(_ type: PyValue) -> String {
        if case .list(let types) = type { return types.map(PyRepr.str).joined(separator: " or ") }
        return PyRepr.str(type)
    }
}
