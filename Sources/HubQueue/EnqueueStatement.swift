import Foundation
import HubCore
import PostgresNIO

/// One job's enqueue as a named prepared statement: it is the first half of every
/// enqueue-to-start path, and a prepared statement is parsed and planned once per connection.
/// The NOTIFY that wakes workers rides in the same statement, so it is sent when, and only
/// when, the enqueueing transaction commits.
///
/// Parameter types are fixed here rather than inferred from the first call's values: a first
/// call with a NULL `run_at` or group limit would otherwise leave the server to guess them.
struct EnqueueStatement: PostgresPreparedStatement {
    static let name = "tributary_enqueue_v1"

    static let sql = """
        WITH inserted AS (
            INSERT INTO jobs (kind, queue, args, priority, run_at, max_attempts, unique_key, group_key, group_limit, state)
            VALUES ($1, $2, $3::jsonb, $4, COALESCE($5, now()), $6, $7, $8, $9,
                    CASE WHEN $5 > now() THEN 'scheduled' ELSE 'available' END)
            ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
                AND state IN ('available', 'scheduled', 'running', 'retryable') DO NOTHING
            RETURNING id, queue, run_at
        )
        SELECT id, CASE WHEN run_at <= now() THEN pg_notify('\(JobQueue.wakeChannel)', queue) END IS NULL FROM inserted
        """

    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .int8, .timestamptz, .int8, .text, .text, .int8]

    typealias Row = (Int64, Bool)

    var request: JobRequest

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 9)
        bindings.append(request.kind)
        bindings.append(request.queue)
        bindings.append(request.args.canonicalJSON)
        bindings.append(request.priority)
        bindings.append(request.runAt)
        bindings.append(request.maxAttempts)
        bindings.append(request.uniqueKey)
        bindings.append(request.groupKey)
        bindings.append(request.groupLimit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
