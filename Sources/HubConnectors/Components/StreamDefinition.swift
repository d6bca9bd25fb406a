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
            throw ManifestError(node.path, "unsupported stream type \(node.type ?? "")")
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
            throw ManifestError(retriever.path, "unsupported retriever \(retriever.type ?? "(no type)")")
        }
        requester = try Requester(try retriever.requiredChild("requester"))
        selector = try RecordSelector(try retriever.requiredChild("record_selector"))
        paginator = try Paginator.make(try retriever.child("paginator"))
        decoder = try ResponseDecoder(try retriever.child("decoder"))
        if paginator != nil, !decoder.supportsPagination {
            throw ManifestError(retriever.path.appending("decoder"), "the CDK pages only JSON responses; this decoder cannot be used with a paginator")
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
