/// `ListPartitionRouter` and `SubstreamPartitionRouter`; several routers combine as a
/// cartesian product, as the CDK's `CartesianProductStreamSlicer`.
indirect enum PartitionRouter: Sendable {
    case list(values: ListValues, field: BoundInterpolation, option: RequestOption?)
    case substream([ParentConfig])

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
            }
        }
        return partition
    }
}
