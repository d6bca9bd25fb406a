/// `ListPartitionRouter`, `SubstreamPartitionRouter`, `GroupingPartitionRouter` and
/// `UnionPartitionRouter`; several routers combine as a cartesian product, as the CDK's
/// `CartesianProductStreamSlicer`.
indirect enum PartitionRouter: Sendable {
    case list(values: ListValues, field: BoundInterpolation, option: RequestOption?)
    case substream([ParentConfig])
    /// The underlying router's partitions in batches of `size`, each value a list (the
    /// requester joins them itself: a grouped router injects nothing).
    case grouping(size: Int, router: PartitionRouter, deduplicate: Bool)
    /// Each child's partitions in turn, each value once, as `{field: value}`; injects nothing.
    case union(field: BoundInterpolation, routers: [PartitionRouter])

    /// The most partitions one group may hold.
    static let maxGroupSize = 10_000

    /// Every parent stream this router reads, however deep in groups and unions.
    var parents: [ParentConfig] {
        switch self {
        case .list: []
        case .substream(let parents): parents
        case .grouping(_, let router, _): router.parents
        case .union(_, let routers): routers.flatMap(\.parents)
        }
    }

    /// Whether the router injects a request option anywhere (which grouping cannot do).
    private var hasRequestOption: Bool {
        switch self {
        case .list(_, _, let option): option != nil
        case .substream(let parents): parents.contains { $0.option != nil }
        case .grouping(_, let router, _): router.hasRequestOption
        case .union(_, let routers): routers.contains { $0.hasRequestOption }
        }
    }

    enum ListValues: Sendable {
        case fixed([PyValue])
        case expression(BoundInterpolation)
    }

    struct ParentConfig: Sendable {
        let stream: StreamDefinition
        let parentKey: BoundInterpolation
        let partitionField: BoundInterpolation
        let option: RequestOption?
    }

    static func make(_ node: ComponentNode, depth: Int) throws -> PartitionRouter {
        switch node.type {
        case "ListPartitionRouter":
            let values: ListValues
            switch node.value("values") {
            case .list(let items)?: values = .fixed(items)
            case .string(let text)?: values = .expression(try node.bind(text, key: "values"))
            default: throw ManifestError(node.path.appending("values"), "expected a list or an expression giving one")
            }
            guard let field = try node.interpolation("cursor_field") else {
                throw ManifestError(node.path.appending("cursor_field"), "is required")
            }
            return .list(values: values, field: field, option: try node.child("request_option").map(RequestOption.init))
        case "SubstreamPartitionRouter":
            guard depth < 8 else { throw ManifestError(node.path, "substreams nest more than 8 levels deep") }
            return .substream(try node.children("parent_stream_configs").map { config in
                guard let parentKey = try config.interpolation("parent_key"),
                      let partitionField = try config.interpolation("partition_field") else {
                    throw ManifestError(config.path, "a ParentStreamConfig needs parent_key and partition_field")
                }
                // A parent that delegates on state reads in full: substreams keep no parent state.
                let parent = try config.requiredChild("stream")
                let stream = parent.type == "StateDelegatingStream"
                    ? try StateDelegation.parse(parent, depth: depth + 1).full : try StreamDefinition(parent, depth: depth + 1)
                return ParentConfig(stream: stream,
                                    parentKey: parentKey, partitionField: partitionField,
                                    option: try config.child("request_option").map(RequestOption.init))
            })
        case "GroupingPartitionRouter":
            guard let size = try node.int("group_size"), (1...maxGroupSize).contains(size) else {
                throw ManifestError(node.path.appending("group_size"), "must be a whole number from 1 to \(maxGroupSize)")
            }
            let underlying = try make(try node.requiredChild("underlying_partition_router"), depth: depth)
            guard !underlying.hasRequestOption else {
                throw ManifestError(node.path.appending("underlying_partition_router"),
                                    "request options are not supported under a GroupingPartitionRouter: use the grouped values in the requester")
            }
            return .grouping(size: size, router: underlying, deduplicate: try node.bool("deduplicate", default: true))
        case "UnionPartitionRouter":
            let children = try node.children("partition_routers")
            guard children.count >= 2 else {
                throw ManifestError(node.path.appending("partition_routers"), "a UnionPartitionRouter needs at least 2 child partition routers")
            }
            guard let field = try node.interpolation("partition_field") else {
                throw ManifestError(node.path.appending("partition_field"), "is required")
            }
            return .union(field: field, routers: try children.map { try make($0, depth: depth) })
        default:
            throw ManifestError(node.path, "unsupported partition router \(node.kindDescription)")
        }
    }

    /// One partition: its slice values and the request options it adds.
    struct Partition: Sendable {
        var values = PyDict()
        var injections: [(RequestOption, PyValue)] = []
    }

    func partitions(reader: StreamReader, context: ExpressionContext) async throws -> [Partition] {
        switch self {
        case .list(let values, let field, let option):
            let name = PyRepr.str(try field.evaluate(context))
            let items: [PyValue]
            switch values {
            case .fixed(let fixed): items = fixed
            case .expression(let expression):
                let evaluated = try expression.evaluate(context)
                items = (try? Filters.items(of: evaluated)) ?? []
            }
            return items.map { value in
                var partition = Partition()
                partition.values[name] = value
                if let option { partition.injections.append((option, value)) }
                return partition
            }
        case .substream(let parents):
            var result: [Partition] = []
            for parent in parents {
                let field = PyRepr.str(try parent.partitionField.evaluate(context))
                let keyPath = PyRepr.str(try parent.parentKey.evaluate(context)).split(separator: "/").map(String.init)
                try await reader.readParent(parent.stream) { record, parentSlice in
                    guard let key = Transformation.value(at: keyPath[...], in: record), key != .none else { return }
                    var partition = Partition()
                    partition.values[field] = key
                    partition.values["parent_slice"] = .dict(parentSlice)
                    if let option = parent.option { partition.injections.append((option, key)) }
                    result.append(partition)
                }
            }
            return result
        case .grouping(let size, let router, let deduplicate):
            var groups: [Partition] = []
            var batch: [Partition] = []
            var seen = Set<PyValue>()
            func flush() {
                guard let first = batch.first else { return }
                var grouped = Partition()
                for key in first.values.keys {
                    grouped.values[key] = .list(batch.map { $0.values[key] ?? PyValue.none })
                }
                groups.append(grouped)
                batch = []
            }
            for partition in try await router.partitions(reader: reader, context: context) {
                let keys = partition.values.keys.filter { $0 != .string("parent_slice") }
                guard keys.count == 1, let key = partition.values[keys[0]] else {
                    throw ManifestError(.root, "GroupingPartitionRouter expects a single partition key-value pair, got \(PyRepr.repr(.dict(partition.values)))")
                }
                if deduplicate {
                    guard seen.insert(key).inserted else { continue }
                }
                batch.append(partition)
                if batch.count == size { flush() }
            }
            flush()
            return groups
        case .union(let fieldName, let routers):
            let field = PyRepr.str(try fieldName.evaluate(context))
            var seen = Set<PyValue>()
            var result: [Partition] = []
            for router in routers {
                for partition in try await router.partitions(reader: reader, context: context) {
                    guard let value = partition.values[field] else {
                        throw ManifestError(.root, "UnionPartitionRouter expects every child to give the partition field \(PyRepr.string(field)), "
                                            + "got \(PyRepr.repr(.dict(partition.values)))")
                    }
                    guard seen.insert(value).inserted else { continue }
                    var single = Partition()
                    single.values[field] = value
                    result.append(single)
                }
            }
            return result
        }
    }

    /// A partition rebuilt from its values: each router injects the value under its own field,
    /// as the CDK's `ListPartitionRouter` and `SubstreamPartitionRouter` read it from the slice.
    static func partition(_ values: PyDict, routers: [PartitionRouter], context: ExpressionContext) throws -> Partition {
        var partition = Partition(values: values)
        for router in routers {
            switch router {
            case .list(_, let field, let option):
                let name = PyRepr.str(try field.evaluate(context))
                if let option, let value = values[name] { partition.injections.append((option, value)) }
            case .substream(let parents):
                for parent in parents {
                    let name = PyRepr.str(try parent.partitionField.evaluate(context))
                    if let option = parent.option, let value = values[name] { partition.injections.append((option, value)) }
                }
            case .grouping, .union:
                break
            }
        }
        return partition
    }
}
