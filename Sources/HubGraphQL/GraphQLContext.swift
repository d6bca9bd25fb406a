import Foundation
import GraphQL
import HubCore
import HubStore
import Logging

/// What every resolver of one request reads through: the key's tenant (every read filters by
/// it), the actor sensitive fields are revealed and audited to (nil: they stay masked), and
/// the readers.
struct GraphQLContext: Sendable {
    let tenant: TenantID
    let actor: AuditActor?
    let entities: EntityReader
    let records: RecordReader
    let logger: Logger

    /// Runs a read, turning its failure into the GraphQL error a client sees: a `HubError`'s
    /// own message (they are written for clients), anything else a generic one, logged.
    func read<T: Sendable>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as HubError {
            throw GraphQLError(message: error.message, extensions: ["code": .string(error.code.rawValue)])
        } catch let error as GraphQLError {
            throw error
        } catch {
            logger.error("GraphQL read failed", metadata: ["reading": "\(what)", "error": "\(error)"])
            throw GraphQLError(message: "internal error while \(what)", extensions: ["code": .string("internal_error")])
        }
    }
}

extension GraphQLContext {
    /// A record of the tenant, revealed to the actor when there is one; nil when not found.
    func record(_ key: RecordKey) async throws -> RecordNode? {
        do {
            return RecordNode(record: try await records.record(tenant: tenant, key: key, revealTo: actor))
        } catch let error as HubError where error.code == .notFound {
            return nil
        }
    }
}
