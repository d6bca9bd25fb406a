/// `RecordSelector`: a `DpathExtractor` (with `*` wildcards) or a `CombinedExtractor` of
/// several, and an optional `RecordFilter`.
struct RecordSelector: Sendable {
    let extractor: Extractor
    let filter: BoundInterpolation?

    /// Where the records of a page are. `combined` runs every sub-extractor on the same decoded
    /// page: `union` yields all their records in order, `firstMatch` those of the first that
    /// yields one; `skipEmpty` drops falsy records (null, {}, [], "") first.
    indirect enum Extractor: Sendable {
        case dpath([BoundInterpolation], expander: RecordExpander?)
        case combined([Extractor], firstMatch: Bool, skipEmpty: Bool)

        init(_ node: ComponentNode) throws {
            switch node.type {
            case "DpathExtractor", nil:
                self = .dpath(try node.stringList("field_path").map { try node.bind($0, key: "field_path") },
                              expander: try node.child("record_expander").map(RecordExpander.init))
            case "CombinedExtractor":
                let children = try node.children("extractors")
                guard !children.isEmpty else {
                    throw ManifestError(node.path.appending("extractors"), "a CombinedExtractor needs at least one extractor")
                }
                let mode = try node.string("mode") ?? "union"
                guard mode == "union" || mode == "first_match" else {
                    throw ManifestError(node.path.appending("mode"), "expected union or first_match, found \(PyRepr.string(mode))")
                }
                self = .combined(try children.map(Extractor.init), firstMatch: mode == "first_match",
                                 skipEmpty: try node.bool("skip_empty_records", default: false))
            default:
                throw ManifestError(node.path, "unsupported extractor \(node.kindDescription)")
            }
        }

        var isCombined: Bool { if case .combined = self { true } else { false } }

        /// Whether a `union` is anywhere inside: its page count is a sum the API never returned.
        var hasUnion: Bool {
            guard case .combined(let children, let firstMatch, _) = self else { return false }
            return !firstMatch || children.contains(where: \.hasUnion)
        }
    }

    init(_ node: ComponentNode) throws {
        extractor = try Extractor(try node.requiredChild("extractor"))
        if let filterNode = try node.child("record_filter") {
            guard filterNode.type == "RecordFilter" || filterNode.type == nil else {
                throw ManifestError(filterNode.path, "unsupported record filter \(filterNode.kindDescription)")
            }
            filter = try filterNode.interpolation("condition", default: "False")
        } else {
            filter = nil
        }
    }

    /// The records of a decoded page (before the filter), and the page's size as a paginator
    /// counts it: as the CDK, empty records a combined extractor drops still count, since the
    /// API returned them as slots of the page.
    func extract(_ decoded: PyValue, context: ExpressionContext) throws -> (records: [PyValue], count: Int) {
        try Self.extract(extractor, decoded, context: context, countDropped: true)
    }

    private static func extract(_ extractor: Extractor, _ decoded: PyValue, context: ExpressionContext,
                                countDropped: Bool) throws -> (records: [PyValue], count: Int) {
        switch extractor {
        case .dpath(let fieldPath, let expander):
            // As the CDK's JSON decoder, a body that is a list is decoded element by element, and
            // the path applies to each.
            let path = try fieldPath.map { PyRepr.str(try $0.evaluate(context)) }
            var records: [PyValue]
            if case .list(let bodies) = decoded { records = bodies.flatMap { extract(path, from: $0) } } else { records = extract(path, from: decoded) }
            // The expander runs inside the extractor: the page's size counts the expanded items.
            if let expander { records = try records.flatMap { try expander.expand($0, context: context) } }
            return (records, records.count)
        case .combined(let children, let firstMatch, let skipEmpty):
            var records: [PyValue] = []
            var count = 0
            for child in children {
                // Only the selector's own extractor counts what it drops (the CDK's
                // `count_dropped_empty_records`); a nested one's drops are gone.
                let (found, _) = try extract(child, decoded, context: context, countDropped: false)
                let kept = skipEmpty ? found.filter(\.isTruthy) : found
                let counted = kept.count + (countDropped ? found.count - kept.count : 0)
                if firstMatch {
                    guard !kept.isEmpty else { continue }
                    return (kept, counted)
                }
                records += kept
                count += counted
            }
            return (records, count)
        }
    }

    private static func extract(_ path: [String], from decoded: PyValue) -> [PyValue] {
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
