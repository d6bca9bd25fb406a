/// A stream's record transformations, applied to each record in order: `AddFields`,
/// `RemoveFields`, and the key reshaping ones (`Transformation+Keys`).
enum Transformation: Sendable {
    case add([(path: [String], value: BoundInterpolation)], condition: BoundInterpolation?)
    case remove(paths: [[String]], condition: BoundInterpolation?)
    case keysToLower
    case keysToSnakeCase
    case keysReplace(old: BoundInterpolation, new: BoundInterpolation)
    case flatten(lists: Bool)
    /// The path's segments, prefix and suffix are evaluated against the config alone, as the
    /// CDK evaluates them.
    case flattenPath(path: [BoundInterpolation], deleteOrigin: Bool, replaceRecord: Bool,
                     prefix: BoundInterpolation?, suffix: BoundInterpolation?)

    init(_ node: ComponentNode) throws {
        switch node.type {
        case "AddFields":
            self = .add(try Self.addedFields(node), condition: try Self.condition(node))
        case "RemoveFields":
            self = .remove(paths: try Self.fieldPointers(node), condition: try Self.condition(node))
        case "KeysToLower":
            self = .keysToLower
        case "KeysToSnakeCase":
            self = .keysToSnakeCase
        case "KeysReplace":
            guard let old = try node.interpolation("old"), let new = try node.interpolation("new") else {
                throw ManifestError(node.path, "KeysReplace needs old and new")
            }
            self = .keysReplace(old: old, new: new)
        case "FlattenFields":
            self = .flatten(lists: try node.bool("flatten_lists", default: true))
        case "DpathFlattenFields":
            let segments = try node.stringList("field_path")
            guard !segments.isEmpty else { throw ManifestError(node.path.appending("field_path"), "is required") }
            let keys = try node.child("key_transformation")
            self = .flattenPath(
                path: try segments.enumerated().map { try node.bind($1, key: "field_path[\($0)]") },
                deleteOrigin: try node.bool("delete_origin_value", default: false),
                replaceRecord: try node.bool("replace_record", default: false),
                prefix: try keys?.interpolation("prefix"), suffix: try keys?.interpolation("suffix")
            )
        default:
            throw ManifestError(node.path, "unsupported transformation \(node.kindDescription)")
        }
    }

    /// `AddFields`' (and `ConfigAddFields`') `fields`: each a path and an interpolated value.
    static func addedFields(_ node: ComponentNode) throws -> [(path: [String], value: BoundInterpolation)] {
        try node.children("fields").map { field in
            let path = try field.stringList("path")
            guard !path.isEmpty, let value = try field.interpolation("value") else {
                throw ManifestError(field.path, "an added field needs a path and a value")
            }
            return (path, value)
        }
    }

    /// `RemoveFields`' (and `ConfigRemoveFields`') `field_pointers`: each a path of keys.
    static func fieldPointers(_ node: ComponentNode) throws -> [[String]] {
        guard case .list(let items)? = node.value("field_pointers") else {
            throw ManifestError(node.path.appending("field_pointers"), "is required")
        }
        return items.map { item -> [String] in
            if case .list(let keys) = item { return keys.map(PyRepr.str) }
            return [PyRepr.str(item)]
        }
    }

    /// A transformation's condition; the schema's default, an empty one, means none (the CDK
    /// tests `if self.condition`).
    static func condition(_ node: ComponentNode) throws -> BoundInterpolation? {
        guard let text = try node.string("condition"), !text.isEmpty else { return nil }
        return try node.bind(text, key: "condition", default: "False")
    }

    func apply(to record: inout PyValue, context: ExpressionContext) throws {
        guard case .dict(var dict) = record else { return }
        switch self {
        case .add(let fields, let condition):
            for field in fields {
                var scoped = context
                scoped["record"] = .dict(dict)
                let value = try field.value.evaluate(scoped)
                if let condition {
                    // The CDK evaluates the condition with the new field's value and path.
                    scoped["value"] = value
                    scoped["path"] = .list(field.path.map(PyValue.string))
                    guard try condition.truth(scoped) else { continue }
                }
                dict = RequestParts.setting(dict, at: field.path[...], to: value)
            }
        case .remove(let paths, let condition):
            for path in paths {
                if let condition {
                    var scoped = context
                    scoped["property"] = Self.value(at: path[...], in: .dict(dict)) ?? PyValue.none
                    guard try condition.truth(scoped) else { continue }
                }
                dict = Self.removing(path[...], from: dict)
            }
        case .keysToLower:
            dict = Self.lowercasingKeys(dict)
        case .keysToSnakeCase:
            dict = Self.snakeCasingKeys(dict)
        case .keysReplace(let old, let new):
            var scoped = context
            scoped["record"] = .dict(dict)
            dict = Self.replacingInKeys(dict, old: PyRepr.str(try old.evaluate(scoped)), new: PyRepr.str(try new.evaluate(scoped)))
        case .flatten(let lists):
            dict = Self.flattening(dict, lists: lists)
        case .flattenPath(let path, let deleteOrigin, let replaceRecord, let prefix, let suffix):
            let configOnly = context.configOnly
            dict = Self.flatteningPath(
                dict, path: try path.map { PyRepr.str(try $0.evaluate(configOnly)) }, deleteOrigin: deleteOrigin,
                replaceRecord: replaceRecord, prefix: try prefix.map { PyRepr.str(try $0.evaluate(configOnly)) },
                suffix: try suffix.map { PyRepr.str(try $0.evaluate(configOnly)) }
            )
        }
        record = .dict(dict)
    }

    static func value(at path: ArraySlice<String>, in value: PyValue) -> PyValue? {
        guard let first = path.first else { return value }
        guard case .dict(let dict) = value, let child = dict[first] else { return nil }
        return Self.value(at: path.dropFirst(), in: child)
    }

    static func removing(_ path: ArraySlice<String>, from dict: PyDict) -> PyDict {
        guard let first = path.first else { return dict }
        var result = dict
        if first == "*" {
            for key in dict.keys {
                if path.count == 1 { result[key] = nil }
                else if case .dict(let inner)? = dict[key] { result[key] = .dict(removing(path.dropFirst(), from: inner)) }
            }
            return result
        }
        if path.count == 1 { result[first] = nil; return result }
        if case .dict(let inner)? = dict[first] { result[first] = .dict(removing(path.dropFirst(), from: inner)) }
        return result
    }
}
