/// How one stream's records map into one unified model (`hub.yaml` `streams.S.unified.MODEL`):
/// a `{{ … }}` expression per model field, evaluated with `record` and `config` as the engine
/// evaluates a manifest's. Expressions are parsed when the connector is registered, so a bad
/// one is refused then, with its place.
public struct UnifiedMapping: Sendable {
    let fields: [(name: String, value: BoundInterpolation)]

    /// The model fields this mapping fills, in the order written.
    public var fieldNames: [String] { fields.map(\.name) }

    init(_ node: ComponentNode, problems: inout [ManifestError]) throws {
        var fields: [(String, BoundInterpolation)] = []
        for (key, value) in node.fields.entries {
            let name = PyRepr.str(key)
            guard case .string(let text) = value else {
                problems.append(ManifestError(node.path.appending(name), "expected an expression string such as \"{{ record.email }}\", found \(value.typeName)"))
                continue
            }
            do { fields.append((name, try node.bind(text, key: name))) } catch let error as ManifestError { problems.append(error) }
        }
        self.fields = fields
    }

    /// The record's values for the model's fields. A field whose expression gives None (or an
    /// empty string) is absent: the source knows nothing of it, and another source may. A type
    /// error fails the mapping (the CDK's rendering of the expression's own text would store
    /// `{{ record.email + 1 }}` as someone's email).
    func evaluate(record: PyValue, config: PyValue, now: PyDateTime) throws -> PyDict {
        let context = ExpressionContext(variables: ["record": record, "config": config], now: now)
        var result = PyDict()
        for (name, value) in fields {
            let evaluated = try value.evaluate(context, strict: true)
            if evaluated == .none || evaluated == .string("") || evaluated.isUndefined { continue }
            result[.string(name)] = evaluated
        }
        return result
    }
}
