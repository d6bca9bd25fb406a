/// The CDK's `InterpolatedNestedMapping` (what `request_body_json` is): every string in the
/// tree, keys included, interpolated; a mapping drops the entries whose value renders to None;
/// lists keep every item; other values stay as they are. A whole-body expression
/// (`request_body_json: "{{ config['body'] }}"`) renders to the mapping itself.
struct InterpolatedNestedMapping: Sendable {
    indirect enum Node: Sendable {
        case text(BoundInterpolation)
        case mapping([(key: Node, value: Node)])
        case list([Node])
        case value(PyValue)
    }

    let root: Node

    init(_ value: PyValue, parameters: PyValue, path: ManifestPath) throws {
        root = try Self.node(value, parameters: parameters, path: path)
    }

    private static func node(_ value: PyValue, parameters: PyValue, path: ManifestPath) throws -> Node {
        switch value {
        case .string(let text):
            return .text(BoundInterpolation(interpolation: try Interpolation(Template(text)), parameters: parameters, path: path))
        case .dict(let dict):
            return .mapping(try dict.entries.map { entry in
                let name = PyRepr.str(entry.key)
                return (try node(entry.key, parameters: parameters, path: path), try node(entry.value, parameters: parameters, path: path.appending(name)))
            })
        case .list(let items):
            return .list(try items.enumerated().map { try node($1, parameters: parameters, path: path.appending($0)) })
        default:
            return .value(value)
        }
    }

    func evaluate(_ context: ExpressionContext) throws -> PyDict {
        guard case .dict(let dict) = try Self.evaluate(root, context) else { return PyDict() }
        return dict
    }

    private static func evaluate(_ node: Node, _ context: ExpressionContext) throws -> PyValue {
        switch node {
        case .text(let interpolation): return try interpolation.evaluate(context)
        case .value(let value): return value
        case .list(let items): return .list(try items.map { try evaluate($0, context) })
        case .mapping(let entries):
            var result = PyDict()
            for entry in entries {
                let value = try evaluate(entry.value, context)
                if value == .none { continue }
                // JSON keys are text: a key that renders to a number or None is written as Python's str().
                result[.string(PyRepr.str(try evaluate(entry.key, context)))] = value
            }
            return .dict(result)
        }
    }
}
