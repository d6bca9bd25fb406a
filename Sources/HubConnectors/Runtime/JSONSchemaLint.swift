/// Checks a connector's spec (`connection_specification`) against the rules of JSON Schema's
/// own meta-schema that a hand-written spec breaks in practice: a property whose schema is not
/// a mapping, a `required` list with a name twice, an unknown `type`. The CDK validates the
/// config with the spec and fails on a spec the meta-schema refuses; so does registration here,
/// with the path of each problem.
enum JSONSchemaLint {
    static let typeNames: Set<String> = ["string", "number", "integer", "boolean", "object", "array", "null"]

    static func problems(_ schema: PyValue, path: ManifestPath) -> [ManifestError] {
        guard case .dict(let fields) = schema else {
            if case .bool = schema { return [] }
            return [ManifestError(path, "a JSON Schema must be a mapping or a boolean, found \(schema.typeName)")]
        }
        var found: [ManifestError] = []
        if let type = fields["type"] {
            let names: [PyValue]
            if case .list(let list) = type { names = list } else { names = [type] }
            for name in names {
                guard case .string(let text) = name, typeNames.contains(text) else {
                    found.append(ManifestError(path.appending("type"), "\(PyRepr.repr(name)) is not a JSON Schema type"))
                    continue
                }
            }
            if names.count != Set(names.map(PyRepr.repr)).count {
                found.append(ManifestError(path.appending("type"), "lists a type twice"))
            }
        }
        if let required = fields["required"] {
            if case .list(let names) = required {
                if names.contains(where: { if case .string = $0 { false } else { true } }) {
                    found.append(ManifestError(path.appending("required"), "must list property names (strings)"))
                } else if names.count != Set(names.map(PyRepr.str)).count {
                    found.append(ManifestError(path.appending("required"), "\(PyRepr.repr(required)) has non-unique elements"))
                }
            } else {
                found.append(ManifestError(path.appending("required"), "must be a list, found \(required.typeName)"))
            }
        }
        for key in ["properties", "patternProperties", "definitions", "$defs"] {
            guard let value = fields[key] else { continue }
            guard case .dict(let children) = value else {
                found.append(ManifestError(path.appending(key), "must be a mapping of schemas, found \(value.typeName)"))
                continue
            }
            for entry in children.entries {
                found += problems(entry.value, path: path.appending(key).appending(PyRepr.str(entry.key)))
            }
        }
        for key in ["items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"] {
            guard let value = fields[key] else { continue }
            if case .list(let items) = value, key == "items" {
                for (index, item) in items.enumerated() { found += problems(item, path: path.appending(key).appending(index)) }
            } else {
                found += problems(value, path: path.appending(key))
            }
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            guard let value = fields[key] else { continue }
            guard case .list(let items) = value, !items.isEmpty else {
                found.append(ManifestError(path.appending(key), "must be a non-empty list of schemas"))
                continue
            }
            for (index, item) in items.enumerated() { found += problems(item, path: path.appending(key).appending(index)) }
        }
        return found
    }
}
