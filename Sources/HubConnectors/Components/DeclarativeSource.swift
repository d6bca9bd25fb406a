import Foundation

/// A loaded, resolved and checked Airbyte declarative manifest: everything that can be wrong
/// with it is found here, at registration, not halfway through a sync.
public struct DeclarativeSource: Sendable {
    /// Each stream as it reads without state (for a `StateDelegatingStream`, its full-refresh
    /// stream).
    let streams: [StreamDefinition]
    /// The `StateDelegatingStream`s, by name: what they read once they have a state.
    let delegations: [String: StateDelegation]
    /// The manifest's `spec.connection_specification`, when it has one.
    public let connectionSpecification: PyValue?
    /// The resolved manifest (references and parameters applied).
    public let resolved: PyValue
    /// The manifest's `api_budget`: the request rates the API allows.
    let apiBudget: APIBudget?
    /// The conditions of streams declared inside `ConditionalStreams`, by stream: the stream
    /// exists for a config only where every one of them holds.
    let conditions: [String: [BoundInterpolation]]
    /// `spec.config_normalization_rules`: config migrations, transformations and validations.
    let normalization: ConfigNormalization
    /// `stream_groups` with `BlockSimultaneousSyncsAction`: the group each stream belongs to.
    /// Streams of one group never read at the same time.
    public let blockingGroups: [String: String]

    /// Every stream the manifest declares, whatever the config.
    public var streamNames: [String] { streams.map(\.name) }

    /// Whether `stream` exists for `config`: a stream inside `ConditionalStreams` exists only
    /// while its condition (on the config) holds, as in the CDK.
    public func isAvailable(_ stream: String, config: PyValue) throws -> Bool {
        guard let conditions = conditions[stream] else { return true }
        let context = ExpressionContext(variables: ["config": config], now: EngineEnvironment.systemNow())
        for condition in conditions where try !condition.truth(context) { return false }
        return true
    }

    /// `config` as the CDK reads with it: migrated and transformed by the spec's
    /// `config_normalization_rules`, and checked by their validations (a `ManifestError` naming
    /// the validation when one refuses it).
    public func normalizedConfig(_ config: PyValue, now: PyDateTime = EngineEnvironment.systemNow()) throws -> PyValue {
        try normalization.apply(to: config, now: now)
    }

    /// The streams that exist for `config`, in the manifest's order.
    public func streamNames(config: PyValue) throws -> [String] {
        try streamNames.filter { try isAvailable($0, config: config) }
    }

    /// The stream's datetime cursor: its own, or for a `StateDelegatingStream` without one on
    /// its full-refresh stream, its incremental stream's.
    func cursor(of name: String) -> DatetimeCursor? {
        streams.first { $0.name == name }?.cursor ?? delegations[name]?.incremental.cursor
    }

    /// Streams some substream reads as its parent: the CDK caches their responses for the
    /// whole read, whichever instance fetches them.
    var parentNames: Set<String> {
        var names = Set<String>()
        func visit(_ stream: StreamDefinition) {
            for router in stream.routers {
                for parent in router.parents {
                    names.insert(parent.stream.name)
                    visit(parent.stream)
                }
            }
        }
        streams.forEach(visit)
        return names
    }

    /// References and parameters applied, nothing checked: what `connectors resolve` prints,
    /// even for a manifest the engine cannot run.
    public static func resolve(yaml: String, source: String = "manifest.yaml") throws -> PyValue {
        try ManifestResolver.resolve(try YAMLDocument.load(yaml, source: source))
    }

    public init(yaml: String, source: String = "manifest.yaml") throws {
        try self.init(manifest: try YAMLDocument.load(yaml, source: source))
    }

    public init(manifest: PyValue) throws {
        resolved = try ManifestResolver.resolve(manifest)
        let root = try ComponentNode(resolved, path: .root)
        var problems: [ManifestError] = []
        var streams: [StreamDefinition] = []
        var delegations: [String: StateDelegation] = [:]
        let nodes = try root.children("streams")
        if nodes.isEmpty {
            if root.has("dynamic_streams") {
                throw ManifestError(root.path.appending("dynamic_streams"), "dynamic streams are not supported")
            }
            throw ManifestError(root.path.appending("streams"), "the manifest declares no streams")
        }
        // `ConditionalStreams` groups streams under a condition on the config: each stream is
        // built now, and the condition decides per config whether it exists.
        var conditions: [String: [BoundInterpolation]] = [:]
        var flattened: [(node: ComponentNode, conditions: [BoundInterpolation])] = []
        func flatten(_ node: ComponentNode, under outer: [BoundInterpolation], depth: Int) throws {
            guard node.type == "ConditionalStreams" else { flattened.append((node, outer)); return }
            guard depth < 8 else { throw ManifestError(node.path, "ConditionalStreams nest more than 8 levels deep") }
            guard let condition = try node.interpolation("condition") else {
                throw ManifestError(node.path.appending("condition"), "is required")
            }
            for inner in try node.children("streams") { try flatten(inner, under: outer + [condition], depth: depth + 1) }
        }
        for node in nodes {
            do { try flatten(node, under: [], depth: 0) } catch let error as ManifestError { problems.append(error) }
        }
        for (node, streamConditions) in flattened {
            do {
                if !streamConditions.isEmpty, let name = try node.string("name") { conditions[name, default: []] += streamConditions }
                if node.type == "StateDelegatingStream" {
                    let (full, delegation) = try StateDelegation.parse(node)
                    streams.append(full)
                    delegations[full.name] = delegation
                } else {
                    streams.append(try StreamDefinition(node))
                }
            } catch let error as ManifestError { problems.append(error) }
        }
        problems += Self.unsupportedComponents(resolved, path: .root)
            .filter { unsupported in !problems.contains { $0.path == unsupported.path } }
        let specification = root.fields["spec"].flatMap { spec in
            if case .dict(let dict) = spec { return dict["connection_specification"] }
            return nil
        }
        var blockingGroups: [String: String] = [:]
        if let groups = try root.child("stream_groups") {
            for (key, value) in groups.fields.entries {
                let name = PyRepr.str(key)
                guard !name.hasPrefix("$") else { continue }
                do {
                    let group = try ComponentNode(value, path: groups.path.appending(name))
                    let action = try group.requiredChild("action")
                    guard action.type == "BlockSimultaneousSyncsAction" else {
                        throw ManifestError(action.path, "unsupported stream group action \(action.kindDescription)")
                    }
                    for member in try group.children("streams") {
                        guard let streamName = try member.string("name") else {
                            throw ManifestError(member.path.appending("name"), "a grouped stream needs its name")
                        }
                        guard streams.contains(where: { $0.name == streamName }) else {
                            throw ManifestError(member.path, "stream \(streamName) is not one of the manifest's streams")
                        }
                        if let other = blockingGroups[streamName], other != name {
                            throw ManifestError(member.path, "stream \(streamName) is already in stream group \(other)")
                        }
                        blockingGroups[streamName] = name
                    }
                } catch let error as ManifestError { problems.append(error) }
            }
        }
        var normalization = try ConfigNormalization(nil)
        do {
            normalization = try ConfigNormalization(try root.child("spec")?.child("config_normalization_rules"))
        } catch let error as ManifestError { problems.append(error) }
        var apiBudget: APIBudget?
        do { apiBudget = try root.child("api_budget").map(APIBudget.init) } catch let error as ManifestError { problems.append(error) }
        if let specification {
            problems += JSONSchemaLint.problems(specification, path: ManifestPath.root.appending("spec").appending("connection_specification"))
        }
        if !problems.isEmpty { throw ManifestProblems(problems: problems) }
        self.streams = streams
        self.delegations = delegations
        self.apiBudget = apiBudget
        self.conditions = conditions
        self.normalization = normalization
        self.blockingGroups = blockingGroups
        connectionSpecification = specification
    }

    static let supportedTypes: Set<String> = [
        "DeclarativeSource", "DeclarativeStream", "SimpleRetriever", "HttpRequester", "RequestOption", "RequestPath",
        "ApiKeyAuthenticator", "BearerAuthenticator", "BasicHttpAuthenticator", "SessionTokenAuthenticator", "OAuthAuthenticator", "NoAuth",
        "SelectiveAuthenticator", "JwtAuthenticator", "StateDelegatingStream",
        "HTTPAPIBudget", "UnlimitedCallRatePolicy", "FixedWindowCallRatePolicy", "MovingWindowCallRatePolicy", "Rate",
        "HttpRequestRegexMatcher", "RequestBodyJsonObject", "RequestBodyGraphQL", "RequestBodyGraphQlQuery", "RequestBodyPlainText",
        "RequestBodyUrlEncodedForm", "JsonlDecoder", "CsvDecoder", "IterableDecoder", "GzipDecoder", "JsonItemsDecoder",
        "GroupingPartitionRouter", "UnionPartitionRouter",
        "Bearer", "ApiKey", "DefaultPaginator", "NoPagination", "CursorPagination", "OffsetIncrement", "PageIncrement",
        "RecordSelector", "DpathExtractor", "RecordFilter", "AddFields", "AddedFieldDefinition", "RemoveFields",
        "KeysToLower", "KeysToSnakeCase", "KeysReplace", "FlattenFields", "DpathFlattenFields", "KeyTransformation",
        "SubstreamPartitionRouter", "ParentStreamConfig", "ListPartitionRouter", "DatetimeBasedCursor", "MinMaxDatetime",
        "IncrementingCountCursor", "CombinedExtractor", "RecordExpander", "ParentFieldPath",
        "DefaultErrorHandler", "CompositeErrorHandler", "HttpResponseFilter", "ConstantBackoffStrategy",
        "ExponentialBackoffStrategy", "WaitTimeFromHeader", "WaitUntilTimeFromHeader", "WaitTimeFromResponse", "InlineSchemaLoader",
        "JsonFileSchemaLoader", "JsonDecoder", "CheckStream", "Spec",
        "QueryProperties", "PropertiesFromEndpoint", "PropertyChunking", "GroupByKeyMergeStrategy", "JsonSchemaPropertySelector",
        "ConditionalStreams", "ConfigNormalizationRules", "ConfigMigration", "ConfigAddFields", "ConfigRemapField",
        "ConfigRemoveFields", "DpathValidator", "PredicateValidator", "ValidateAdheresToSchema", "LegacySessionTokenAuthenticator",
        "XmlDecoder", "ZipfileDecoder", "BlockSimultaneousSyncsAction",
        // A hint for the CDK's thread pool; Tributary's concurrency comes from its workers.
        "ConcurrencyLevel",
    ]

    /// A custom component is Python code shipped in the connector's package: the package itself
    /// runs as a process connector.
    static func customRefusal(_ name: String) -> String {
        "component type \(name) is custom Python code the engine cannot run (its PyPI package, airbyte-source-NAME, can run as a "
            + "process connector instead: hub.yaml runtime.pypi)"
    }

    /// Every component of a type the engine does not run, listed together.
    static func unsupportedComponents(_ value: PyValue, path: ManifestPath) -> [ManifestError] {
        switch value {
        case .dict(let dict):
            var found: [ManifestError] = []
            if case .string(let type)? = dict["type"], !supportedTypes.contains(type), type.first?.isUppercase == true {
                found.append(ManifestError(path, type.hasPrefix("Custom") ? Self.customRefusal(type) : "component type \(type) is not supported"))
            }
            for (key, child) in dict.entries {
                let name = PyRepr.str(key)
                // Schemas are JSON Schema documents, not components.
                if ["schema", "connection_specification", "$parameters", "definitions", "schemas", "metadata"].contains(name) { continue }
                found += unsupportedComponents(child, path: path.appending(name))
            }
            return found
        case .list(let items):
            return items.enumerated().flatMap { unsupportedComponents($1, path: path.appending($0)) }
        default:
            return []
        }
    }
}

/// Several manifest problems found at once, so an author fixes them in one pass.
public struct ManifestProblems: Error, Sendable, CustomStringConvertible {
    public let problems: [ManifestError]
    /// What has them: the manifest, `hub.yaml`, a model.
    public var subject = "the manifest"
    public var description: String {
        "\(subject) has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
