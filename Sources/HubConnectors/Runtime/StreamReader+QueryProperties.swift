extension StreamReader {
    /// The most properties an endpoint may list: each is a name in every request of the stream.
    static let maxFetchedProperties = 100_000

    /// The chunks of properties each page of the stream is requested with.
    func queryPropertyChunks(_ query: QueryProperties) async throws -> [[String]] {
        switch query.list {
        case .fixed(let fields):
            return try query.chunks(of: fields)
        case .endpoint(let fieldPath, let stream):
            // Keyed by where the component sits in the manifest: two streams of one name (a
            // parent's copy, a delegating pair) never share a list.
            let key = query.path.description
            if let cached = await propertyLists.list(for: key) { return try query.chunks(of: cached) }
            // As the CDK's PropertiesFromEndpoint: its retriever read in one empty slice, each
            // record's property at the path (evaluated with the config), as text.
            let context = baseContext()
            let path = try fieldPath.map { PyRepr.str(try $0.evaluate(context)) }
            var fields: [String] = []
            try await readSlice(stream, partition: PartitionRouter.Partition(), slice: nil, state: nil) { records, _ in
                for record in records {
                    var value: PyValue? = record
                    for key in path {
                        guard case .dict(let dict)? = value else { value = nil; break }
                        value = dict[key]
                    }
                    // dpath's default, as the CDK prints it.
                    fields.append(value.map(PyRepr.str) ?? "[]")
                }
                if fields.count > Self.maxFetchedProperties {
                    throw ManifestError(query.path, "the endpoint listed more than \(Self.maxFetchedProperties) properties")
                }
            }
            await propertyLists.store(fields, for: key)
            return try query.chunks(of: fields)
        }
    }
}
