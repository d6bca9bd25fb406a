/// An interpolation with its component's `parameters` and its manifest path, ready to run.
struct BoundInterpolation: Sendable {
    let interpolation: Interpolation
    let parameters: PyValue
    let path: ManifestPath

    var isPlain: Bool { interpolation.isPlain }

    func evaluate(_ context: ExpressionContext, validTypes: Set<String>? = nil, strict: Bool = false) throws -> PyValue {
        var scoped = context
        scoped["parameters"] = parameters
        do {
            return try interpolation.evaluate(scoped, validTypes: validTypes, strict: strict)
        } catch let error as ExpressionError {
            throw ManifestError(path, "evaluating \(PyRepr.string(interpolation.template.source)): \(error.message)")
        }
    }

    /// The rendered value as text (`str()` of whatever the literal evaluation produced).
    func text(_ context: ExpressionContext) throws -> String? {
        let value = try evaluate(context)
        if value == .none { return nil }
        return PyRepr.str(value)
    }

    /// `InterpolatedBoolean`: the literal's truth, with the strings "False"/"false" false. Its
    /// templates default to "False", so an undefined value reads as false rather than failing.
    func truth(_ context: ExpressionContext) throws -> Bool {
        let value = try evaluate(context)
        if case .string(let text) = value { return !text.isEmpty && text != "False" && text != "false" }
        return value.isTruthy
    }
}

/// The CDK's `InterpolatedMapping`: keys and values interpolated; non-string values kept as
/// they are; a value that renders to None dropped.
struct InterpolatedMapping: Sendable {
    let entries: [(BoundInterpolation, PyValue, BoundInterpolation?)]
    /// A whole-mapping expression (`request_body_json: "{{ config['body'] }}"`).
    let template: BoundInterpolation?

    func evaluate(_ context: ExpressionContext) throws -> PyDict {
        if let template {
            guard case .dict(let dict) = try template.evaluate(context) else { return PyDict() }
            return dict
        }
        var result = PyDict()
        for (key, raw, value) in entries {
            let keyValue = try key.evaluate(context)
            let evaluated = try value.map { try $0.evaluate(context) } ?? raw
            if evaluated == .none || keyValue == .none { continue }
            result[.string(PyRepr.str(keyValue))] = evaluated
        }
        return result
    }
}
