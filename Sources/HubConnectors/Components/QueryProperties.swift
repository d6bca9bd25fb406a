/// `QueryProperties`: the properties an API must be asked for by name (HubSpot's
/// `properties=a,b,c`), listed in the manifest or fetched from an endpoint, and split into
/// chunks for APIs that cap how many a request may name.
///
/// As the CDK's `SimpleRetriever`: each page is requested once per chunk, with the same page
/// token; the records of the chunks are merged by the merge strategy's key (deeply, later
/// chunks' values winning) and emitted after the last chunk, while a record without the key is
/// emitted as it comes. The next page's token comes from the last chunk's response.
struct QueryProperties: Sendable {
    indirect enum PropertyList: Sendable {
        case fixed([String])
        /// `PropertiesFromEndpoint`: the records of a retriever, each giving one property at
        /// `property_field_path`. Fetched once per read.
        case endpoint(fieldPath: [BoundInterpolation], stream: StreamDefinition)
    }

    enum LimitType: String, Sendable {
        case characters
        case propertyCount = "property_count"
    }

    struct Chunking: Sendable {
        let limitType: LimitType
        let limit: Int?
        /// `GroupByKeyMergeStrategy.key` (default `id`).
        let mergeKeys: [String]
        let path: ManifestPath
    }

    /// The request parameter that carries the chunk (`request_parameters.<key>`), or nil when
    /// the chunk reaches the request only through `stream_partition.extra_fields`.
    let parameter: String?
    let list: PropertyList
    let alwaysInclude: [String]
    let chunking: Chunking?
    let path: ManifestPath

    /// The most chunks a page is split into: each is a request per page.
    static let maxChunks = 1_000
    /// The most bytes the chunks of one page may come to together.
    static let maxPageBytes = 256 << 20

    init(_ node: ComponentNode, parameter: String?, streamName: String, depth: Int) throws {
        guard node.type == "QueryProperties" || node.type == "PropertiesFromEndpoint" else {
            throw ManifestError(node.path, "unsupported query properties \(node.kindDescription)")
        }
        self.parameter = parameter
        path = node.path
        // The deprecated `fetch_properties_from_endpoint` is a bare PropertiesFromEndpoint.
        let listNode: PyValue? = node.type == "PropertiesFromEndpoint" ? .dict(node.fields) : node.value("property_list")
        switch listNode {
        case .list?:
            list = .fixed(try node.stringList("property_list"))
        case .dict?:
            let endpoint = node.type == "PropertiesFromEndpoint" ? node : try node.requiredChild("property_list")
            guard endpoint.type == "PropertiesFromEndpoint" else {
                throw ManifestError(endpoint.path, "expected a list of properties or a PropertiesFromEndpoint, found \(endpoint.kindDescription)")
            }
            guard depth < 8 else { throw ManifestError(endpoint.path, "properties fetched from endpoints nest too deeply") }
            let fieldPath = try endpoint.stringList("property_field_path").map { try endpoint.bind($0, key: "property_field_path") }
            guard !fieldPath.isEmpty else { throw ManifestError(endpoint.path.appending("property_field_path"), "is required") }
            // The retriever reads as a stream of its own, named after the one it serves.
            var fields = PyDict()
            fields["type"] = .string("DeclarativeStream")
            fields["name"] = .string(streamName + " properties")
            fields["retriever"] = .dict(try endpoint.requiredChild("retriever").fields)
            fields["$parameters"] = endpoint.parameters
            let stream = try StreamDefinition(try ComponentNode(.dict(fields), path: endpoint.path), depth: depth + 1)
            list = .endpoint(fieldPath: fieldPath, stream: stream)
        case nil:
            list = .fixed([])
        case let other?:
            throw ManifestError(node.path.appending("property_list"), "expected a list of properties or a PropertiesFromEndpoint, found \(other.typeName)")
        }
        alwaysInclude = try node.stringList("always_include_properties")
        if let chunking = try node.child("property_chunking") {
            guard chunking.type == "PropertyChunking" || chunking.type == nil else {
                throw ManifestError(chunking.path, "unsupported property chunking \(chunking.kindDescription)")
            }
            let typeName = try chunking.requiredString("property_limit_type")
            guard let limitType = LimitType(rawValue: typeName) else {
                throw ManifestError(chunking.path.appending("property_limit_type"), "expected characters or property_count, found \(typeName)")
            }
            let limit = try chunking.int("property_limit")
            if let limit, limit < 1 {
                throw ManifestError(chunking.path.appending("property_limit"), "must be at least 1, found \(limit)")
            }
            var keys = ["id"]
            if let strategy = try chunking.child("record_merge_strategy") {
                guard strategy.type == "GroupByKeyMergeStrategy" else {
                    throw ManifestError(strategy.path, "unsupported record merge strategy \(strategy.kindDescription)")
                }
                keys = try strategy.stringList("key")
                guard !keys.isEmpty else { throw ManifestError(strategy.path.appending("key"), "is required") }
            }
            self.chunking = Chunking(limitType: limitType, limit: limit, mergeKeys: keys, path: chunking.path)
        } else {
            self.chunking = nil
        }
        // `property_selector` narrows the list to the columns a configured catalog selects.
        // Tributary syncs every column of a stream, which is the CDK's reading without a
        // selection: all of them. So the selector, and its transformations, change nothing.
    }

    /// The chunks of `fields`, as the CDK's `PropertyChunking` cuts them: `always_include`
    /// starts every chunk; a chunk is full when the next property would pass the limit
    /// (`characters` counts each name plus 3, for the encoded comma).
    func chunks(of fields: [String]) throws -> [[String]] {
        guard let chunking else { return [alwaysInclude + fields] }
        guard let limit = chunking.limit else { return [fields + alwaysInclude] }
        var chunks: [[String]] = []
        var current = alwaysInclude
        var size = 0
        for field in fields {
            let fieldSize = chunking.limitType == .characters ? field.count + 3 : 1
            if size + fieldSize > limit {
                chunks.append(current)
                guard chunks.count < Self.maxChunks else {
                    throw ManifestError(chunking.path, "splits the properties into more than \(Self.maxChunks) chunks, each a request per page")
                }
                current = alwaysInclude
                size = 0
            }
            current.append(field)
            size += fieldSize
        }
        chunks.append(current)
        return chunks
    }

    /// The key a record is merged under across chunks: its merge keys' values joined with
    /// commas, or nil when one is missing or empty (the record is then emitted on its own).
    func mergeKey(of record: PyValue) throws -> String? {
        guard let chunking, case .dict(let fields) = record else { return nil }
        var parts: [String] = []
        for key in chunking.mergeKeys {
            guard let value = fields[key], value.isTruthy else { return nil }
            // The CDK joins them as strings, and fails on anything else.
            guard case .string(let text) = value else {
                throw ManifestError(chunking.path.appending("record_merge_strategy").appending("key"),
                                    "a record's \(key) is a \(value.typeName); the records are grouped by its text, so it must be a string")
            }
            parts.append(text)
        }
        return parts.joined(separator: ",")
    }

    /// `_deep_merge`: a mapping merged into a mapping key by key, anything else replacing.
    static func deepMerge(_ target: inout PyDict, _ source: PyDict) {
        for (key, value) in source.entries {
            if case .dict(var existing)? = target[key], case .dict(let incoming) = value {
                // Released from the target first, so the nested mapping is merged in place
                // rather than copied for every chunk.
                target[key] = PyValue.none
                deepMerge(&existing, incoming)
                target[key] = .dict(existing)
            } else {
                target[key] = value
            }
        }
    }
}
