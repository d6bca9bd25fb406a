import Foundation
import Hummingbird

/// `GET /v1/records`'s query parameters, checked: every invalid one is named in one 400, and
/// what is not a parameter is a blind-index filter. Apart from the handler so it can be tested
/// (and fuzzed) without a server or a database.
package struct RecordListRequest: Sendable {
    package let connection: UUID
    package let stream: String
    package let limit: Int
    /// The change sequence after which the page starts, from the opaque cursor.
    package let after: Int64?
    package let updatedAfter: Date?
    package let includeDeleted: Bool
    /// Every other parameter, in order; the handler allows at most one.
    package let filters: [(name: String, value: String)]

    static let reserved: Set<String> = ["connection_id", "stream", "limit", "cursor", "updated_after", "include_deleted"]

    /// Throws `Problem.invalid` naming each bad parameter.
    package static func parse(_ request: Request) throws -> RecordListRequest {
        let query = request.uri.queryParameters
        var errors: [String: String] = [:]
        let connection = query["connection_id"].flatMap { UUID(uuidString: String($0)) }
        if connection == nil { errors["connection_id"] = query["connection_id"] == nil ? "is required" : "must be a connection id (UUID)" }
        let stream = query["stream"].map(String.init)
        if stream?.isEmpty ?? true { errors["stream"] = "is required" }
        var limit = 100
        if let raw = query["limit"] {
            if let value = Int(raw), (1...1000).contains(value) { limit = value } else { errors["limit"] = "must be a number from 1 to 1000" }
        }
        var after: Int64?
        if let raw = query["cursor"] {
            if let value = RecordCursor.decode(String(raw)) { after = value } else { errors["cursor"] = "is not a cursor this API returned" }
        }
        var updatedAfter: Date?
        if let raw = query["updated_after"] {
            if let value = try? Date(String(raw), strategy: .iso8601) { updatedAfter = value } else { errors["updated_after"] = "must be an RFC 3339 time such as 2024-06-01T12:00:00Z" }
        }
        var includeDeleted = false
        if let raw = query["include_deleted"] {
            switch raw { case "true": includeDeleted = true; case "false": break; default: errors["include_deleted"] = "must be true or false" }
        }
        let filters = query.filter { !reserved.contains(String($0.key)) }.map { (name: String($0.key), value: String($0.value)) }
        guard errors.isEmpty, let connection, let stream else { throw Problem.invalid(errors) }
        return RecordListRequest(connection: connection, stream: stream, limit: limit, after: after, updatedAfter: updatedAfter,
                                 includeDeleted: includeDeleted, filters: filters)
    }
}
