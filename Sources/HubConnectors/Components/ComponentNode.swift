/// One mapping of the resolved manifest with the path it sits at: typed field access whose
/// errors name the field (`streams[2].retriever.paginator.page_size: expected an integer`).
/// Properties the manifest leaves out read as the component schema's defaults, as the CDK's
/// models (generated from the same schema) see them.
struct ComponentNode {
    let fields: PyDict
    let path: ManifestPath

    init(_ value: PyValue, path: ManifestPath) throws {
        guard case .dict(var fields) = value else {
            throw ManifestError(path, "expected a mapping (a component), found \(value.typeName)")
        }
        if case .string(let type)? = fields["type"], let defaults = ComponentDefaults.byType[type] {
            for (key, value) in defaults where fields[key] == nil { fields[key] = value }
        }
        self.fields = fields
        self.path = path
    }

    var type: String? { fields["type"].flatMap { if case .string(let s) = $0 { return s } else { return nil } } }

    /// The component's type for messages; custom Python components name their class.
    var kindDescription: String {
        if let type {
            guard type.hasPrefix("Custom") else { return type }
            return "\(type), custom Python code the engine cannot run (its PyPI package can run as a process connector instead: "
                + "hub.yaml runtime.pypi)"
        }
        if case .string(let className)? = fields["class_name"] {
            return "custom Python component \(className), which the engine cannot run (its PyPI package can run as a process connector: "
                + "hub.yaml runtime.pypi)"
        }
        return "(no type)"
    }

    /// `$parameters` after propagation: what `{{ parameters[...] }}` reads.
    var parameters: PyValue { fields["$parameters"] ?? .dict(PyDict()) }

    func has(_ key: String) -> Bool {
        if let value = fields[key], value != .none { return true }
        return false
    }

    func value(_ key: String) -> PyValue? {
        guard let value = fields[key], value != .none else { return nil }
        return value
    }

    func child(_ key: String) throws -> ComponentNode? {
        guard let value = value(key) else { return nil }
        return try ComponentNode(value, path: path.appending(key))
    }

    func requiredChild(_ key: String) throws -> ComponentNode {
        guard let child = try child(key) else { throw ManifestError(path.appending(key), "is required") }
        return child
    }

    func children(_ key: String) throws -> [ComponentNode] {
        guard let value = value(key) else { return [] }
        guard case .list(let items) = value else {
            return [try ComponentNode(value, path: path.appending(key))]
        }
        return try items.enumerated().map { try ComponentNode($1, path: path.appending(key).appending($0)) }
    }

    func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        switch value {
        case .string(let text): return text
        case .int, .float, .bool: return PyRepr.str(value)
        default: throw ManifestError(path.appending(key), "expected a string, found \(value.typeName)")
        }
    }

    func requiredString(_ key: String) throws -> String {
        guard let text = try string(key) else { throw ManifestError(path.appending(key), "is required") }
        return text
    }

    func int(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        switch value {
        case .int(let number): return number
        case .string(let text) where Int(text) != nil: return Int(text)
        default: throw ManifestError(path.appending(key), "expected an integer, found \(PyRepr.repr(value))")
        }
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = value(key) else { return fallback }
        guard case .bool(let flag) = value else {
            throw ManifestError(path.appending(key), "expected true or false, found \(PyRepr.repr(value))")
        }
        return flag
    }

    func stringList(_ key: String) throws -> [String] {
        guard let value = value(key) else { return [] }
        switch value {
        case .string(let text): return [text]
        case .list(let items):
            return try items.enumerated().map { index, item in
                guard case .string(let text) = item else {
                    throw ManifestError(path.appending(key).appending(index), "expected a string, found \(item.typeName)")
                }
                return text
            }
        default: throw ManifestError(path.appending(key), "expected a list of strings, found \(value.typeName)")
        }
    }

    /// A field holding an interpolated string, parsed now so a bad expression fails at registration.
    func interpolation(_ key: String, default defaultSource: String? = nil) throws -> BoundInterpolation? {
        guard let text = try string(key) else { return nil }
        return try bind(text, key: key, default: defaultSource)
    }

    func bind(_ text: String, key: String, default defaultSource: String? = nil) throws -> BoundInterpolation {
        do {
            return BoundInterpolation(interpolation: try Interpolation.string(text, default: defaultSource),
                                      parameters: parameters, path: path.appending(key))
        } catch let error as ExpressionError {
            throw ManifestError(path.appending(key), "invalid expression \(PyRepr.string(text)): \(error.message)")
        }
    }

    /// A mapping of interpolated keys and values (request parameters, headers, bodies).
    func interpolatedMapping(_ key: String) throws -> InterpolatedMapping? {
        guard let value = value(key) else { return nil }
        switch value {
        case .dict(let dict):
            var entries: [(BoundInterpolation, PyValue, BoundInterpolation?)] = []
            for (entryKey, entryValue) in dict.entries {
                let name = PyRepr.str(entryKey)
                let keyInterpolation = try bind(name, key: key, default: nil)
                var valueInterpolation: BoundInterpolation?
                if case .string(let text) = entryValue {
                    valueInterpolation = try BoundInterpolation(
                        interpolation: Interpolation(Template(text)), parameters: parameters, path: path.appending(key).appending(name))
                }
                entries.append((keyInterpolation, entryValue, valueInterpolation))
            }
            return InterpolatedMapping(entries: entries, template: nil)
        case .string(let text):
            return InterpolatedMapping(entries: [], template: try bind(text, key: key))
        default:
            throw ManifestError(path.appending(key), "expected a mapping or an expression, found \(value.typeName)")
        }
    }
}
