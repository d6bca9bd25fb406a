import Yams

/// YAML text to evaluator values, keeping mapping order and resolving scalars by the YAML
/// 1.1 rules PyYAML applies (the CDK loads manifests with PyYAML).
enum YAMLDocument {
    static func load(_ text: String, source: String) throws -> PyValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ManifestError(.root, "\(source) is not valid YAML: \(error)")
        }
        guard let node else { throw ManifestError(.root, "\(source) is empty") }
        return try value(node)
    }

    private static func value(_ node: Node) throws -> PyValue {
        switch node {
        case .scalar(let scalar):
            switch node.tag.description {
            case "tag:yaml.org,2002:null": return .none
            case "tag:yaml.org,2002:bool": return node.bool.map(PyValue.bool) ?? .string(scalar.string)
            case "tag:yaml.org,2002:int": return node.int.map(PyValue.int) ?? .string(scalar.string)
            case "tag:yaml.org,2002:float": return node.float.map(PyValue.float) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .mapping(let mapping):
            var dict = PyDict()
            for (key, item) in mapping {
                let keyValue = try value(key)
                dict[PyValue.string(PyRepr.str(keyValue))] = try value(item)
            }
            return .dict(dict)
        case .sequence(let sequence):
            return .list(try sequence.map(value))
        case .alias:
            throw ManifestError(.root, "YAML aliases are not supported in manifests; use $ref")
        }
    }
}
