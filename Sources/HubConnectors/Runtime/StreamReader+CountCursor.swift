extension StreamReader {
    /// A stream with an `IncrementingCountCursor`: one read from its start value, the state
    /// after it when records came (and at the end, as the CDK emits them).
    func readCountStream(_ stream: StreamDefinition, cursor: CountCursor, state: PyValue?, emit: Emit) async throws {
        let context = baseContext()
        let field = try cursor.cursorFieldName(context)
        let start = try cursor.syncStart(state: state, field: field, context: context)
        var partition = PartitionRouter.Partition()
        if let option = cursor.startOption { partition.injections.append((option, .int(start))) }
        var newest: Int?
        var running = false
        func currentState() -> PyValue {
            var dict = PyDict()
            if case .dict(let started)? = state { dict = started }
            dict[field] = .int(max(newest ?? start, start))
            return .dict(dict)
        }
        do {
            try await readSlice(stream, partition: partition, slice: nil, state: state, cached: source.parentNames.contains(stream.name),
                                rateLimited: { try await emit(.rateLimited(stream: stream.name)) }) { selected, extracted in
                try await Self.deliver(selected, extracted: extracted, of: stream, running: &running, emit: emit) { records in
                    for case .dict(let fields) in records {
                        if let value = fields[field].flatMap(CountCursor.integer) { newest = max(newest ?? value, value) }
                    }
                }
            }
        } catch {
            try await emit(.state(stream: stream.name, state: currentState()))
            throw error
        }
        if running { try await emit(.state(stream: stream.name, state: currentState())) }
        try await emit(.state(stream: stream.name, state: currentState()))
    }
}
