/// The CDK's two preprocessing passes over a loaded manifest: references (`$ref` keys and
/// `"#/…"` strings, the referencing mapping's own keys winning), then the propagation of
/// `$parameters` and of default component types down the tree.
enum ManifestResolver {
    /// Nodes the resolved manifest may have. References copy what they point at, so ten lists
    /// of ten references, each to the previous list, make 10^10 nodes from a few lines (the
    /// billion-laughs attack, by `$ref`). The largest of the 55 catalogue manifests in
    /// shared/conformance (stripe) resolves to 53,811, the largest of PyPI's 236 declarative
    /// sources (google-ads) to 559,298 (PyYAML and the CDK's resolver count the same); the
    /// budget is 3.5 times that, and reaching it takes a few seconds.
    static let maximumNodes = 2_000_000

    static func resolve(_ manifest: PyValue) throws -> PyValue {
        var visiting: Set<String> = []
        var memo: [String: Resolved] = [:]
        var resolved = try resolveReferences(manifest, root: manifest, path: .root, visiting: &visiting, memo: &memo).value
        if case .dict(var dict) = resolved, dict["type"] == nil {
            dict["type"] = .string("DeclarativeSource")
            resolved = .dict(dict)
        }
        return propagate(resolved, fieldIdentifier: "", parameters: PyDict())
    }

    /// A resolved value with the number of nodes it holds, and for a mapping each entry's:
    /// a reference reused is shared in memory until the manifest is walked, so the budget is
    /// kept on the size the manifest will have, computed as it is built, not by walking it.
    private struct Resolved {
        var value: PyValue
        var size: Int
        var entrySizes: [PyValue: Int] = [:]
    }

    private static func resolveReferences(_ node: PyValue, root: PyValue, path: ManifestPath,
                                          visiting: inout Set<String>, memo: inout [String: Resolved]) throws -> Resolved {
        switch node {
        case .dict(let dict):
            var evaluated = PyDict()
            var sizes: [PyValue: Int] = [:]
            for (key, value) in dict.entries where key != .string("$ref") {
                let name = PyRepr.str(key)
                let child = name == "config_overrides"
                    ? Resolved(value: value, size: Self.size(of: value))
                    : try resolveReferences(value, root: root, path: path.appending(name), visiting: &visiting, memo: &memo)
                evaluated[key] = child.value
                sizes[key] = child.size
            }
            guard let reference = dict["$ref"] else { return try checked(Resolved(value: .dict(evaluated), size: 1 + sizes.values.reduce(0, +), entrySizes: sizes), path) }
            let target = try resolveReferences(reference, root: root, path: path.appending("$ref"), visiting: &visiting, memo: &memo)
            guard case .dict(var merged) = target.value else { return target }
            var mergedSizes = target.entrySizes
            for (key, value) in evaluated.entries {
                merged[key] = value
                mergedSizes[key] = sizes[key]
            }
            return try checked(Resolved(value: .dict(merged), size: 1 + mergedSizes.values.reduce(0, +), entrySizes: mergedSizes), path)
        case .list(let items):
            var values: [PyValue] = []
            var size = 1
            values.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                let child = try resolveReferences(item, root: root, path: path.appending(index), visiting: &visiting, memo: &memo)
                values.append(child.value)
                size += child.size
            }
            return try checked(Resolved(value: .list(values), size: size), path)
        case .string(let text) where text.hasPrefix("#/"):
            // A reference resolves the same wherever it appears: resolved once, then reused.
            if let known = memo[text] { return known }
            guard !visiting.contains(text) else { throw ManifestError(path, "circular reference \(text)") }
            visiting.insert(text)
            defer { visiting.remove(text) }
            guard let target = lookup(String(text.dropFirst(2)), in: root) else {
                throw ManifestError(path, "reference \(text) points at nothing in the manifest")
            }
            let value = try resolveReferences(target, root: root, path: path, visiting: &visiting, memo: &memo)
            memo[text] = value
            return value
        default:
            return Resolved(value: node, size: 1)
        }
    }

    private static func checked(_ resolved: Resolved, _ path: ManifestPath) throws -> Resolved {
        guard resolved.size <= maximumNodes else { throw tooLarge(path) }
        return resolved
    }

    /// The nodes of a value taken as it is (`config_overrides`, never resolved): bounded by
    /// the document, whose own size the YAML loader has already limited.
    private static func size(of value: PyValue) -> Int {
        switch value {
        case .dict(let dict): 1 + dict.values.reduce(0) { $0 + size(of: $1) }
        case .list(let items): 1 + items.reduce(0) { $0 + size(of: $1) }
        default: 1
        }
    }

    private static func tooLarge(_ path: ManifestPath) -> ManifestError {
        ManifestError(path, "the manifest expands to more than \(maximumNodes) nodes through its references; "
            + "is a reference repeated inside what it references?")
    }

    /// The CDK's ambiguous lookup: the whole remaining path as a key first, then one segment
    /// at a time (a numeric segment indexes a list).
    private static func lookup(_ reference: String, in node: PyValue) -> PyValue? {
        var current = node
        var rest = reference
        while !rest.isEmpty {
            if case .dict(let dict) = current, let value = dict[rest] { return value }
            let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let head = String(parts[0])
            rest = parts.count > 1 ? String(parts[1]) : ""
            switch current {
            case .dict(let dict):
                guard let value = dict[head] ?? Int(head).flatMap({ dict[.int($0)] }) else { return nil }
                current = value
            case .list(let items):
                guard let index = Int(head), index >= 0, index < items.count else { return nil }
                current = items[index]
            default: return nil
            }
        }
        return current
    }

    static let defaultTypes: [String: String] = [
        "CompositeErrorHandler.error_handlers": "DefaultErrorHandler",
        "CursorPagination.decoder": "JsonDecoder",
        "DatetimeBasedCursor.end_datetime": "MinMaxDatetime",
        "DatetimeBasedCursor.end_time_option": "RequestOption",
        "DatetimeBasedCursor.start_datetime": "MinMaxDatetime",
        "DatetimeBasedCursor.start_time_option": "RequestOption",
        "DeclarativeSource.check": "CheckStream",
        "DeclarativeSource.spec": "Spec",
        "DeclarativeSource.streams": "DeclarativeStream",
        "DeclarativeStream.retriever": "SimpleRetriever",
        "DeclarativeStream.schema_loader": "JsonFileSchemaLoader",
        "DefaultErrorHandler.response_filters": "HttpResponseFilter",
        "DefaultPaginator.decoder": "JsonDecoder",
        "DefaultPaginator.page_size_option": "RequestOption",
        "DpathExtractor.decoder": "JsonDecoder",
        "HttpRequester.error_handler": "DefaultErrorHandler",
        "ListPartitionRouter.request_option": "RequestOption",
        "ParentStreamConfig.request_option": "RequestOption",
        "ParentStreamConfig.stream": "DeclarativeStream",
        "RecordSelector.extractor": "DpathExtractor",
        "RecordSelector.record_filter": "RecordFilter",
        "SimpleRetriever.paginator": "NoPagination",
        "SimpleRetriever.record_selector": "RecordSelector",
        "SimpleRetriever.requester": "HttpRequester",
        "SubstreamPartitionRouter.parent_stream_configs": "ParentStreamConfig",
        "AddFields.fields": "AddedFieldDefinition",
    ]

    /// `ManifestComponentTransformer.propagate_types_and_parameters`.
    private static func propagate(_ node: PyValue, fieldIdentifier: String, parameters parentParameters: PyDict) -> PyValue {
        guard case .dict(var component) = node else { return node }
        if component["type"] == nil, component["class_name"] == nil, let found = defaultTypes[fieldIdentifier] {
            component["type"] = .string(found)
        }
        var parameters = parentParameters
        if case .dict(let own)? = component["$parameters"] {
            for (key, value) in own.entries { parameters[key] = value }
        }
        component["$parameters"] = nil
        // A JSON schema (type `object`, or a type union) is not a component.
        switch component["type"] {
        case .string("object")?, .list?, .dict?: return .dict(component)
        case nil:
            var nested = component
            for (key, value) in component.entries {
                if case .dict(let child) = value, child["type"] != nil || child["$parameters"] != nil {
                    nested[key] = propagate(value, fieldIdentifier: fieldIdentifier, parameters: parameters)
                }
            }
            return .dict(nested)
        default: break
        }
        for (key, value) in parameters.entries where !(component[key]?.isTruthy ?? false) {
            component[key] = value
        }
        let typeName = component["type"].map(PyRepr.str) ?? ""
        for (key, value) in component.entries {
            let name = PyRepr.str(key)
            var childParameters = parameters
            // Never propagate a parameter into the field of the same name: it would recurse forever.
            childParameters[key] = nil
            switch value {
            case .dict:
                component[key] = propagate(value, fieldIdentifier: "\(typeName).\(name)", parameters: childParameters)
            case .list(let items):
                component[key] = .list(items.map { item in
                    if case .dict = item { return propagate(item, fieldIdentifier: "\(typeName).\(name)", parameters: childParameters) }
                    return item
                })
            default: break
            }
        }
        if !parameters.isEmpty { component["$parameters"] = .dict(parameters) }
        return .dict(component)
    }
}
