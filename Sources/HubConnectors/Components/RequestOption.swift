/// Where a value goes in a request (`RequestOption`, or `RequestPath` for a page token that
/// is the next URL).
struct RequestOption: Sendable {
    enum Target: String, Sendable {
        case requestParameter = "request_parameter"
        case header
        case bodyData = "body_data"
        case bodyJSON = "body_json"
        case path
    }

    let target: Target
    let fieldName: BoundInterpolation?
    let fieldPath: [BoundInterpolation]

    init(_ node: ComponentNode) throws {
        if node.type == "RequestPath" {
            target = .path
            fieldName = nil
            fieldPath = []
            return
        }
        let inject = try node.requiredString("inject_into")
        guard let target = Target(rawValue: inject), target != .path else {
            throw ManifestError(node.path.appending("inject_into"),
                                "expected request_parameter, header, body_data or body_json, found \(PyRepr.string(inject))")
        }
        self.target = target
        // An empty field_name is none, as the CDK's model factory reads it.
        fieldName = try node.string("field_name") == "" ? nil : try node.interpolation("field_name")
        fieldPath = try node.stringList("field_path").map { try node.bind($0, key: "field_path") }
        // The CDK's RequestOption checks, with its wording.
        if fieldName == nil && fieldPath.isEmpty {
            throw ManifestError(node.path, "RequestOption requires either a field_name or field_path")
        }
        if fieldName != nil && !fieldPath.isEmpty {
            throw ManifestError(node.path, "only one of field_name or field_path can be provided to a RequestOption")
        }
        if !fieldPath.isEmpty && target != .bodyJSON {
            throw ManifestError(node.path.appending("field_path"), "nested field injection is only supported for body_json; use field_name")
        }
    }

    /// Puts `value` into `request` under this option's name.
    func inject(_ value: PyValue, into request: inout RequestParts, context: ExpressionContext) throws {
        if target == .path {
            request.pathOverride = PyRepr.str(value)
            return
        }
        if target == .bodyJSON, !fieldPath.isEmpty {
            let keys = try fieldPath.map { PyRepr.str(try $0.evaluate(context)) }
            request.bodyJSON = RequestParts.setting(request.bodyJSON, at: keys[...], to: value)
            return
        }
        guard let name = try fieldName?.evaluate(context) else { return }
        let key = PyRepr.str(name)
        switch target {
        case .requestParameter: request.parameters[key] = value
        case .header: request.headers[key] = PyRepr.str(value)
        case .bodyData: request.bodyData[key] = value
        case .bodyJSON: request.bodyJSON[.string(key)] = value
        case .path: break
        }
    }
}
