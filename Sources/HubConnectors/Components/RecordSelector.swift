/// `RecordSelector`: a `DpathExtractor` (with `*` wildcards) and an optional `RecordFilter`.
struct RecordSelector: Sendable {
    let fieldPath: [BoundInterpolation]
    let filter: BoundInterpolation?

    init(_ node: ComponentNode) throws {
        let extractor = try node.requiredChild("extractor")
        guard extractor.type == "DpathExtractor" || extractor.type == nil else {
            throw ManifestError(extractor.path, "unsupported extractor \(extractor.type ?? "")")
        }
        fieldPath = try extractor.stringList("field_path").map { try extractor.bind($0, key: "field_path") }
        if let filterNode = try node.child("record_filter") {
            guard filterNode.type == "RecordFilter" || filterNode.type == nil else {
                throw ManifestError(filterNode.path, "unsupported record filter \(filterNode.type ?? "")")
            }
            filter = try filterNode.interpolation("condition", default: "False")
        } else {
            filter = nil
        }
    }

    /// The records of a decoded page (before the filter). As the CDK's JSON decoder, a body
    /// that is a list is decoded element by element, and the path applies to each.
    func extract(_ decoded: PyValue, context: ExpressionContext) throws -> [PyValue] {
        let path = try fieldPath.map { PyRepr.str(try $0.evaluate(context)) }
        guard case .list(let bodies) = decoded else { return extract(path, from: decoded) }
        return bodies.flatMap { extract(path, from: $0) }
    }

    private func extract(_ path: [String], from decoded: PyValue) -> [PyValue] {
        var current: [PyValue] = [decoded]
        var usedWildcard = false
        for key in path {
            var next: [PyValue] = []
            for value in current {
                if key == "*" {
                    usedWildcard = true
                    switch value {
                    case .list(let items): next += items
                    case .dict(let dict): next += dict.values
                    default: break
                    }
                } else if case .dict(let dict) = value, let child = dict[key] {
                    next.append(child)
                } else if case .list(let items) = value, let index = Int(key), index >= 0, index < items.count {
                    next.append(items[index])
                }
            }
            current = next
        }
        if path.isEmpty || !usedWildcard {
            guard let single = current.first else { return [] }
            switch single {
            case .list(let items): return items
            case .dict(let dict): return dict.isEmpty ? [] : [single]
            // `elif extracted: yield extracted`: a falsy value is no record.
            default: return single.isTruthy ? [single] : []
            }
        }
        // dpath.values: each match is one record, even a list.
        return current
    }

    func keep(_ record: PyValue, context: ExpressionContext) throws -> Bool {
        guard let filter else { return true }
        var scoped = context
        scoped["record"] = record
        return try filter.truth(scoped)
    }
}
