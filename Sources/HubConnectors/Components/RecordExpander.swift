/// `RecordExpander` (a `DpathExtractor`'s `record_expander`): each extracted record gives the
/// items of a nested list as records of their own (an invoice's lines, a thread's messages),
/// carrying as much of their parent as the manifest asks: merged underneath
/// (`merge_parent`), named fields copied (`parent_fields`), the whole parent embedded
/// (`remain_original_record`), in that order, as the CDK applies them.
struct RecordExpander: Sendable {
    /// One named value copied from the parent onto each item.
    struct ParentField: Sendable {
        let parentPath: [BoundInterpolation]
        let recordPath: [BoundInterpolation]
        let path: ManifestPath
    }

    let expandPath: [BoundInterpolation]
    let remainOriginalRecord: Bool
    let mergeParent: Bool
    let emitParentWhenEmpty: Bool
    let parentFields: [ParentField]

    init(_ node: ComponentNode) throws {
        guard node.type == "RecordExpander" || node.type == nil else {
            throw ManifestError(node.path, "unsupported record expander \(node.kindDescription)")
        }
        let paths = try node.stringList("expand_records_from_field")
        guard node.has("expand_records_from_field") else {
            throw ManifestError(node.path.appending("expand_records_from_field"), "is required")
        }
        expandPath = try paths.map { try node.bind($0, key: "expand_records_from_field") }
        remainOriginalRecord = try node.bool("remain_original_record", default: false)
        mergeParent = try node.bool("merge_parent", default: false)
        switch try node.string("on_no_records") ?? "skip" {
        case "skip": emitParentWhenEmpty = false
        case "emit_parent": emitParentWhenEmpty = true
        case let other:
            throw ManifestError(node.path.appending("on_no_records"), "expected skip or emit_parent, found \(PyRepr.string(other))")
        }
        // Without a retriever, a truncated list expands as it is; the CDK only logs a warning.
        _ = try node.stringList("truncation_indicator_path").map { try node.bind($0, key: "truncation_indicator_path") }
        if node.has("truncated_list_retriever") {
            // A retriever per truncated parent record, inside an extractor: the engine reads
            // retrievers only as streams and partitions. Refused by name rather than run wrong.
            throw ManifestError(node.path.appending("truncated_list_retriever"),
                                "is not supported: a retriever fetching a truncated list per record; list the items as a substream instead")
        }
        parentFields = try node.children("parent_fields").map { field in
            guard field.type == "ParentFieldPath" || field.type == nil else {
                throw ManifestError(field.path, "expected a ParentFieldPath, found \(field.kindDescription)")
            }
            let parentPath = try field.stringList("parent_path"), recordPath = try field.stringList("record_path")
            guard !parentPath.isEmpty else { throw ManifestError(field.path.appending("parent_path"), "cannot be empty") }
            guard !recordPath.isEmpty else { throw ManifestError(field.path.appending("record_path"), "cannot be empty") }
            return ParentField(parentPath: try parentPath.map { try field.bind($0, key: "parent_path") },
                               recordPath: try recordPath.map { try field.bind($0, key: "record_path") }, path: field.path)
        }
    }

    /// The records one extracted record expands to.
    func expand(_ record: PyValue, context: ExpressionContext) throws -> [PyValue] {
        guard case .dict(let parent) = record, !expandPath.isEmpty else { return [record] }
        let configOnly = context.configOnly
        let path = try expandPath.map { PyRepr.str(try $0.evaluate(configOnly)) }
        let resolvedFields = try parentFields.map { field in
            let parentPath = try field.parentPath.map { PyRepr.str(try $0.evaluate(configOnly)) }
            let recordPath = try field.recordPath.map { PyRepr.str(try $0.evaluate(configOnly)) }
            for (name, segments) in [("parent_path", parentPath), ("record_path", recordPath)]
            where segments.contains(where: { $0.contains("*") || $0.contains("?") || $0.contains("[") }) {
                throw ManifestError(field.path.appending(name), "glob characters (*, ?, [) are not supported: the path must identify a single field")
            }
            return (parent: parentPath, record: recordPath, path: field.path)
        }
        let mergeBase = mergeParent ? Self.removingLists(matching: path[...], from: parent) : nil
        let lists = Self.values(at: path[...], in: record).compactMap { value -> [PyValue]? in
            if case .list(let items) = value { return items } else { return nil }
        }
        var expanded: [PyValue] = []
        let carries = remainOriginalRecord || mergeParent || !parentFields.isEmpty
        for item in lists.joined() {
            if case .dict(let child) = item {
                expanded.append(.dict(try withParent(parent, child: child, mergeBase: mergeBase, fields: resolvedFields)))
            } else if carries {
                var child = PyDict()
                child["value"] = item
                expanded.append(.dict(try withParent(parent, child: child, mergeBase: mergeBase, fields: resolvedFields)))
            } else {
                expanded.append(item)
            }
        }
        if expanded.isEmpty && lists.allSatisfy(\.isEmpty) && emitParentWhenEmpty { return [record] }
        return expanded
    }

    private func withParent(_ parent: PyDict, child: PyDict, mergeBase: PyDict?,
                            fields: [(parent: [String], record: [String], path: ManifestPath)]) throws -> PyDict {
        var result = child
        if let mergeBase {
            // `{**parent, **child}`: the parent's keys in its order, the child's values winning.
            result = mergeBase
            for (key, value) in child.entries { result[key] = value }
        }
        for field in fields {
            let value = Self.lookup(field.parent[...], in: .dict(parent)) ?? PyValue.none
            result = try Self.setting(result, at: field.record[...], to: value, path: field.path)
        }
        if remainOriginalRecord { result["original_record"] = .dict(parent) }
        return result
    }

    /// `dpath.values`: every value the path reaches, `*` matching any key or index.
    static func values(at path: ArraySlice<String>, in value: PyValue) -> [PyValue] {
        guard let first = path.first else { return [value] }
        let rest = path.dropFirst()
        switch value {
        case .dict(let dict):
            if first == "*" { return dict.values.flatMap { values(at: rest, in: $0) } }
            return dict[first].map { values(at: rest, in: $0) } ?? []
        case .list(let items):
            if first == "*" { return items.flatMap { values(at: rest, in: $0) } }
            guard let index = Int(first), index >= 0, index < items.count else { return [] }
            return values(at: rest, in: items[index])
        default:
            return []
        }
    }

    /// The value at a path without globs, as `dpath.get` resolves it (a list segment is an
    /// index, negative ones counting from the end); nil when absent.
    static func lookup(_ path: ArraySlice<String>, in value: PyValue) -> PyValue? {
        guard let first = path.first else { return value }
        switch value {
        case .dict(let dict): return dict[first].flatMap { lookup(path.dropFirst(), in: $0) }
        case .list(let items):
            guard let index = Int(first), -items.count <= index, index < items.count else { return nil }
            return lookup(path.dropFirst(), in: items[index < 0 ? items.count + index : index])
        default: return nil
        }
    }

    /// `dpath.new`: creates the objects on the way; a value on the way that is not an object
    /// cannot be written through and fails the read, naming the path.
    static func setting(_ dict: PyDict, at keys: ArraySlice<String>, to value: PyValue, path: ManifestPath) throws -> PyDict {
        guard let first = keys.first else { return dict }
        var result = dict
        if keys.count == 1 {
            result[first] = value
            return result
        }
        var inner = PyDict()
        switch dict[first] {
        case nil: break
        case .dict(let existing)?: inner = existing
        default:
            throw ManifestError(path.appending("record_path"), "cannot write the parent's value: the expanded item already holds a "
                                + "non-object value at \(PyRepr.string(first)) on that path")
        }
        result[first] = .dict(try setting(inner, at: keys.dropFirst(), to: value, path: path))
        return result
    }

    /// The parent without the lists the expansion path matches (every one, for a glob path);
    /// a match that is not a list stays, since nothing is expanded from it.
    static func removingLists(matching path: ArraySlice<String>, from dict: PyDict) -> PyDict {
        guard let first = path.first else { return dict }
        var result = dict
        for key in dict.keys {
            let name = PyRepr.str(key)
            guard first == "*" || first == name, let child = dict[key] else { continue }
            if path.count == 1 {
                if case .list = child { result[key] = nil }
            } else if case .dict(let inner) = child {
                result[key] = .dict(removingLists(matching: path.dropFirst(), from: inner))
            }
        }
        return result
    }
}
