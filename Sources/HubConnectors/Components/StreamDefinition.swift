/// `DeclarativeStream` with its `SimpleRetriever`, built and checked at registration.
struct StreamDefinition: Sendable {
    let name: String
    let primaryKey: [[String]]
    let requester: Requester
    let selector: RecordSelector
    let paginator: Paginator?
    let decoder: ResponseDecoder
    let routers: [PartitionRouter]
    let cursor: DatetimeCursor?
    /// An `IncrementingCountCursor` instead of a datetime one.
    let countCursor: CountCursor?
    let transformations: [Transformation]
    let parameters: PyValue
    let path: ManifestPath

    init(_ node: ComponentNode, depth: Int = 0) throws {
        guard node.type == "DeclarativeStream" || node.type == nil else {
            throw ManifestError(node.path, "unsupported stream type \(node.kindDescription)")
        }
        guard let name = try node.string("name"), !name.isEmpty else {
            throw ManifestError(node.path.appending("name"), "every stream needs a name")
        }
        self.name = name
        switch node.value("primary_key") {
        case .string(let key)? where key.isEmpty: primaryKey = []  // the schema's default: none
        case .string(let key)?: primaryKey = [[key]]
        case .list(let keys)?:
            primaryKey = keys.map { key in
                if case .list(let parts) = key { return parts.map(PyRepr.str) }
                return [PyRepr.str(key)]
            }
        default: primaryKey = []
        }
        let retriever = try node.requiredChild("retriever")
        guard retriever.type == "SimpleRetriever" else {
            throw ManifestError(retriever.path, "unsupported retriever \(retriever.kindDescription)")
        }
        requester = try Requester(try retriever.requiredChild("requester"), streamName: name, depth: depth)
        selector = try RecordSelector(try retriever.requiredChild("record_selector"))
        paginator = try Paginator.make(try retriever.child("paginator"))
        decoder = try ResponseDecoder(try retriever.child("decoder"))
        if paginator != nil, !decoder.supportsPagination {
            throw ManifestError(retriever.path.appending("decoder"), "the CDK pages only JSON responses; this decoder cannot be used with a paginator")
        }
        let selectorPath = retriever.path.appending("record_selector").appending("extractor")
        if selector.extractor.isCombined, decoder.consumesBody {
            // As the CDK: each sub-extractor reads the body again, which a streaming decoder
            // cannot give twice (the CDK would silently lose every record after the first path's).
            throw ManifestError(selectorPath, "a CombinedExtractor needs a JSON decoder: each sub-extractor reads the whole response")
        }
        if selector.extractor.hasUnion, let paginator, case .offset = paginator.strategy {
            throw ManifestError(selectorPath, "a CombinedExtractor in union mode cannot be used with OffsetIncrement: the offset would "
                                + "advance by the sum of every path's records and skip records (use first_match, or PageIncrement)")
        }
        routers = try retriever.children("partition_router").map { try PartitionRouter.make($0, depth: depth) }
        let incremental = try node.child("incremental_sync")
        if let incremental, incremental.type == "IncrementingCountCursor" {
            // As the CDK, which has not settled how the two would combine.
            guard routers.isEmpty else {
                throw ManifestError(incremental.path, "an IncrementingCountCursor cannot be used with a partition router (the CDK refuses it too)")
            }
            countCursor = try CountCursor(incremental)
            cursor = nil
        } else {
            countCursor = nil
            cursor = try incremental.map(DatetimeCursor.init)
        }
        transformations = try node.children("transformations").map(Transformation.init)
        parameters = node.parameters
        path = node.path
    }
}
