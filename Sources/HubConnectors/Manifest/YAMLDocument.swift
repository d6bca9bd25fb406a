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
        var nodes = 0
        return try value(node, source: source, nodes: &nodes)
    }

    /// Nodes a document may have once its aliases are expanded. Yams hands an alias over as a
    /// copy of its anchor's node, so `&a [x, x]`, `&b [*a, *a]`, … doubles with every line
    /// (the billion-laughs attack); counting while converting stops it.
    static let maximumNodes = ManifestResolver.maximumNodes

    private static func value(_ node: Node, source: String, nodes: inout Int) throws -> PyValue {
        nodes += 1
        guard nodes <= maximumNodes else {
            throw ManifestError(.root, "\(source) expands to more than \(maximumNodes) nodes; are YAML aliases (*name) repeated inside what they refer to?")
        }
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
                let keyValue = try value(key, source: source, nodes: &nodes)
                dict[PyValue.string(PyRepr.str(keyValue))] = try value(item, source: source, nodes: &nodes)
            }
            return .dict(dict)
        case .sequence(let sequence):
            return .list(try sequence.map { try value($0, source: source, nodes: &nodes) })
        case .alias:
            throw ManifestError(.root, "YAML aliases are not supported in manifests; use $ref")
        }
    }
}
