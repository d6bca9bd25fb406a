/// A `StateDelegatingStream`: two definitions of one stream, the full-refresh one read when the
/// stream has no state (it is the stream `DeclarativeSource.streams` lists) and the incremental
/// one when it has. With an `api_retention_period`, a state older than the API keeps its data
/// (Stripe's events: 30 days) is dropped and the stream is read in full instead, as the CDK does
/// it, so no change between the state and the retention cutoff is lost.
struct StateDelegation: Sendable {
    let incremental: StreamDefinition
    let retentionPeriod: BoundInterpolation?

    /// Parses the node into the stream read without state and the delegation.
    static func parse(_ node: ComponentNode, depth: Int = 0) throws -> (full: StreamDefinition, delegation: StateDelegation) {
        let full = try StreamDefinition(try node.requiredChild("full_refresh_stream"), depth: depth)
        let incremental = try StreamDefinition(try node.requiredChild("incremental_stream"), depth: depth)
        let name = try node.string("name") ?? ""
        guard full.name == name, incremental.name == name else {
            throw ManifestError(node.path, "a StateDelegatingStream and its full_refresh_stream and incremental_stream must have the same name; "
                                + "they have \(PyRepr.string(name)), \(PyRepr.string(full.name)) and \(PyRepr.string(incremental.name))")
        }
        return (full, StateDelegation(incremental: incremental, retentionPeriod: try node.interpolation("api_retention_period")))
    }

    /// Which definition reads from `state`, and the state it reads from: nil after a fallback
    /// to a full refresh (`reset`), which the reader announces with an empty state first.
    func choose(full: StreamDefinition, state: PyValue?, context: ExpressionContext) throws
        -> (stream: StreamDefinition, state: PyValue?, reset: Bool) {
        guard let state, state.isTruthy else { return (full, state, false) }
        guard let retentionPeriod, let text = try retentionPeriod.text(context), !text.isEmpty else { return (incremental, state, false) }
        let retention: PyDuration
        do { retention = try ISO8601.parseDuration(text) } catch {
            throw ManifestError(retentionPeriod.path, "expected an ISO 8601 duration such as P30D, found \(PyRepr.string(text))")
        }
        let cutoff = try context.now.converted(toOffset: 0).adding(PyDuration(months: -retention.months, micros: -retention.micros))
        // As the CDK: a completed full refresh's marker counts as now; otherwise the cursor
        // value, read by the full-refresh stream's cursor first, then the incremental one's.
        guard case .dict(let dict) = state else { return (full, nil, true) }
        var cursorTime: PyDateTime?
        if full.cursor == nil, dict["__ab_no_cursor_state_message"]?.isTruthy == true {
            cursorTime = context.now
        }
        for cursor in [full.cursor, incremental.cursor].compactMap({ $0 }) where cursorTime == nil {
            if let field = try? cursor.cursorFieldName(context), let stored = dict[field], stored.isTruthy {
                cursorTime = cursor.parse(stored, formats: [cursor.datetimeFormat] + cursor.cursorFormats)
            }
        }
        guard let cursorTime, cursorTime >= cutoff else { return (full, nil, true) }
        return (incremental, state, false)
    }
}
