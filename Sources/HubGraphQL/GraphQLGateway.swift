import Foundation
import GraphQL
import HubCore
import HubCrypto
import HubStore
import HubSync
import Logging
import PostgresNIO
import Synchronization

/// Runs GraphQL requests for one tenant's key over the unified models' schema: parse, hold
/// to `QueryLimits`, validate, execute. Knows no HTTP: the API's controller hands it the
/// request's parts and sends back what it returns.
public struct GraphQLGateway: Sendable {
    /// The longest query text taken, in UTF-8 bytes: room for any hand-written query and the
    /// usual introspection query, not for a document built to tire the parser.
    public static let maxQueryBytes = 64 << 10
    /// How long a built schema serves before the registered models are looked at again: a
    /// newly registered model appears in GraphQL within this time.
    static let schemaLifetime = Duration.seconds(2)

    let client: PostgresClient
    let keyring: Keyring
    let logger: Logger
    let limits: QueryLimits
    private let cache = SchemaCache()
    private let documents = DocumentCache()

    public init(client: PostgresClient, keyring: Keyring, logger: Logger) {
        self.client = client
        self.keyring = keyring
        self.logger = logger
        limits = QueryLimits()
    }

    /// A GraphQL request as clients POST it.
    public struct Request: Sendable {
        public let query: String
        public let operationName: String?
        public let variables: [String: JSONValue]

        public init(query: String, operationName: String?, variables: [String: JSONValue]) {
            self.query = query
            self.operationName = operationName
            self.variables = variables
        }
    }

    /// The response body: `{"data": …, "errors": […]}` as JSON. A query over its limits, or one
    /// that does not parse or validate, answers with `errors` and no `data`; each limit's error
    /// carries `extensions.code` (`query_too_deep`, `query_too_large`, `query_too_costly`,
    /// `query_conflict`).
    public func execute(_ request: Request, tenant: TenantID, actor: AuditActor?) async throws -> [UInt8] {
        let schema = try await cache.schema(client: client, logger: logger, lifetime: Self.schemaLifetime)
        let variables = GraphQLValues.map(request.variables)
        let result: GraphQLResult
        do {
            guard request.query.utf8.count <= Self.maxQueryBytes else {
                throw QueryLimits.Exceeded(description: "the query is longer than \(Self.maxQueryBytes) bytes", code: "query_too_large")
            }
            // A query seen before with this schema was parsed and validated then: clients send
            // the same few documents with other variables. Its limits depend on the variables,
            // so they are checked every time.
            let cached = documents.document(for: request.query, schema: schema.schema)
            if cached == nil { try limits.checkNesting(request.query) }
            let document = try cached ?? parse(source: Source(body: request.query, name: "GraphQL request"))
            _ = try limits.check(document, operationName: request.operationName, schema: schema.schema, costs: schema.costs, variables: variables)
            let problems = cached != nil ? [] : validate(schema: schema.schema, ast: document)
            if problems.isEmpty, cached == nil { documents.store(document, for: request.query, schema: schema.schema) }
            if !problems.isEmpty {
                result = GraphQLResult(errors: problems)
            } else {
                let context = GraphQLContext(tenant: tenant, actor: actor, entities: EntityReader(client: client, keyring: keyring, logger: logger),
                                             records: RecordReader(client: client, keyring: keyring, logger: logger), logger: logger)
                result = try await GraphQL.execute(schema: schema.schema, documentAST: document, rootValue: (), context: context,
                                                   variableValues: variables, operationName: request.operationName)
            }
        } catch let exceeded as QueryLimits.Exceeded {
            result = GraphQLResult(errors: [GraphQLError(message: exceeded.description, extensions: ["code": .string(exceeded.code)])])
        } catch let error as GraphQLError {
            result = GraphQLResult(errors: [error])
        }
        let encoder = GraphQLJSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(result))
    }
}

/// The schema of the models registered now, rebuilt when a model's latest version changes.
final class SchemaCache: Sendable {
    private struct Built {
        let versions: [String: Int]
        let schema: UnifiedSchema
        let checked: ContinuousClock.Instant
    }

    private let built = Mutex<Built?>(nil)

    func schema(client: PostgresClient, logger: Logger, lifetime: Duration) async throws -> UnifiedSchema {
        let now = ContinuousClock.now
        if let current = built.withLock({ $0 }), now - current.checked < lifetime { return current.schema }
        let summaries = try await ModelStore(client: client, logger: logger).list()
        let versions = Dictionary(uniqueKeysWithValues: summaries.map { ($0.name, $0.latestVersion) })
        if let current = built.withLock({ $0 }), current.versions == versions {
            built.withLock { $0 = Built(versions: versions, schema: current.schema, checked: now) }
            return current.schema
        }
        let models = try await ModelCatalog(client: client, logger: logger).latest(summaries.map(\.name))
        let schema = try UnifiedSchema(models: Array(models.values))
        built.withLock { $0 = Built(versions: versions, schema: schema, checked: now) }
        return schema
    }
}

/// Documents that parsed and validated, by their text, for the schema they were validated
/// against. Bounded: only texts of at most 8 KiB, at most 256 of them (all dropped when full:
/// a client cycling through more documents than that gains nothing from a cache anyway).
final class DocumentCache: Sendable {
    static let maxEntries = 256
    static let maxTextBytes = 8 << 10

    /// `@unchecked` because GraphQL's `Document` is not declared `Sendable`: it is a tree of
    /// structs and `let`-only final classes that nothing mutates after `parse` returns (the
    /// executor and validator only read it), so sharing it between requests races on nothing.
    /// The schema is held, not its address: a new schema at a freed one's address must not match.
    private struct Entry: @unchecked Sendable {
        let schema: GraphQLSchema
        let document: Document
    }

    private let entries = Mutex<[String: Entry]>([:])

    func document(for text: String, schema: GraphQLSchema) -> Document? {
        guard text.utf8.count <= Self.maxTextBytes else { return nil }
        guard let entry = entries.withLock({ $0[text] }), entry.schema === schema else { return nil }
        return entry.document
    }

    func store(_ document: Document, for text: String, schema: GraphQLSchema) {
        guard text.utf8.count <= Self.maxTextBytes else { return }
        let entry = Entry(schema: schema, document: document)
        entries.withLock { entries in
            if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            entries[text] = entry
        }
    }
}
