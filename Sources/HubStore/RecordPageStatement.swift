import Foundation
import HubCore
import PostgresNIO

/// A page of records without a blind-index filter, as a named prepared statement: the read
/// every API client pages through. Planned once per connection, it saves about a fifth of
/// the database's work per page (pgbench, the same query, simple against prepared). Its
/// generic plan walks `records_feed` (connection, stream, change sequence), which is right for
/// every page of this shape.
///
/// A blind-index lookup (`lookupSQL`, the same page with one more condition) stays an
/// ordinary query: its plan depends on the digest, through the GIN index, and one generic plan
/// for both shapes would serve lookups badly.
struct RecordPageStatement: PostgresPreparedStatement {
    static let name = "tributary_record_page_v1"

    private static let select = """
        SELECT external_id, data::text, sensitive, key_version, change_seq, synced_at, deleted_at FROM records
        WHERE tenant_id = $1 AND connection_id = $2 AND stream = $3 AND change_seq > $4
          AND ($5 OR deleted_at IS NULL)
          AND ($6::timestamptz IS NULL OR synced_at > $6)
        """
    static let sql = select + "\nORDER BY change_seq LIMIT $7"
    /// `$8` is the digest, appended to `makeBindings()`'s values. Ordered by `change_seq + 0`:
    /// ordered by the column itself, a small `LIMIT` lets the planner walk `records_feed` in
    /// order and test each record against the digest, which for one match among a million is a
    /// scan of the stream (measured: 1.5 s a lookup over 200,000 records); with nothing to gain
    /// from the feed's order it finds the few matches through the GIN index and sorts them.
    static let lookupSQL = select + "\n  AND blind_index @> ARRAY[$8::bytea]\nORDER BY change_seq + 0 LIMIT $7"

    static let bindingDataTypes: [PostgresDataType] = [.uuid, .uuid, .text, .int8, .bool, .timestamptz, .int8]

    typealias Row = (String, String, ByteBuffer?, Int?, Int64, Date, Date?)

    var query: RecordQuery

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        bindings.append(query.tenant.rawValue)
        bindings.append(query.connection)
        bindings.append(query.stream)
        bindings.append(query.after ?? 0)
        bindings.append(query.includeDeleted)
        bindings.append(query.updatedAfter)
        bindings.append(query.limit + 1)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
