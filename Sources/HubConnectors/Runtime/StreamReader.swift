/// Runs one manifest's streams against the live API: partitions × cursor slices × pages,
/// extracting, filtering and transforming records, and tracking the cursor for the state.
public struct StreamReader: Sendable {
    let source: DeclarativeSource
    let config: PyValue
    let transport: any HTTPTransport
    let environment: EngineEnvironment
    /// Parent streams' responses, reused for the rest of the read as the CDK's request cache
    /// does: a parent read for several substreams is fetched once.
    let cache = ResponseCache()
    /// Tokens obtained during this read (session logins, OAuth): one connection's, never shared.
    let tokens = TokenStore()
    /// Slices ended by a response the error handler said to IGNORE, this read.
    let ignored = IgnoredResponses()
    /// Properties fetched from an endpoint (`PropertiesFromEndpoint`), once per read.
    let propertyLists = PropertyListCache()

    public init(source: DeclarativeSource, config: PyValue, transport: any HTTPTransport, environment: EngineEnvironment) {
        self.source = source
        self.config = config
        // The API budget counts every request of this read, whichever stream sends it.
        self.transport = source.apiBudget.map {
            BudgetedTransport(inner: transport, budget: APIBudgetState(budget: $0, config: config), sleep: environment.sleep)
        } ?? transport
        self.environment = environment
    }

    func baseContext() -> ExpressionContext {
        ExpressionContext(variables: ["config": config], now: environment.now())
    }

    public typealias Emit = @Sendable (SourceEvent) async throws -> Void

    /// Reads one stream from `state`, emitting its events. With `partition` (one of
    /// `partitions(of:)`'s values), only that partition is read, and `state` is its own.
    public func read(stream name: String, state: PyValue?, partition: PyValue? = nil, emit: Emit) async throws {
        let (stream, state, reset) = try definition(of: name, state: state)
        // A state past the API's retention is dropped before the full refresh, as the CDK
        // announces it: with an empty state.
        if reset { try await emit(.state(stream: name, state: .dict(PyDict()))) }
        try await emit(.started(stream: name))
        do {
            let ignoredBefore = ignored.count
            try await readStream(stream, state: state, only: partition, emit: emit)
            let cutShort = ignored.count - ignoredBefore
            if cutShort > 0 {
                try await emit(.cutShort(stream: name, reason: "\(cutShort) page request(s) answered with a response the manifest "
                                         + "ignores (IGNORE), which ends that slice's pagination"))
            }
            try await emit(.complete(stream: name))
        } catch {
            // The CDK still closes a full-refresh stream's state before reporting it incomplete.
            if stream.cursor == nil, stream.countCursor == nil {
                var dict = PyDict()
                dict["__ab_no_cursor_state_message"] = .bool(true)
                try await emit(.state(stream: name, state: .dict(dict)))
            }
            try await emit(.incomplete(stream: name, error: String(describing: error)))
            throw error
        }
    }

    /// The stream's partitions, each as its slice values (what `stream_partition` holds), or
    /// nil when the stream has no partition router. Reads parent streams where it must.
    public func partitions(of name: String) async throws -> [PyValue]? {
        let stream = try definition(of: name)
        guard !stream.routers.isEmpty else { return nil }
        return try await partitions(stream, context: baseContext()).map { .dict($0.values) }
    }

    /// Evaluates what the CDK evaluates when it builds a stream, before any request: the
    /// cursor's start, step, granularity and lookback (its end is read with the stream, and
    /// fails only the stream).
    public func prepare(stream name: String, state: PyValue?) throws {
        let stream = try definition(of: name, state: state).stream
        try stream.cursor?.prepare(baseContext())
    }

    private func definition(of name: String) throws -> StreamDefinition {
        guard let stream = source.streams.first(where: { $0.name == name }) else {
            throw ManifestError(.root.appending("streams"), "no stream named \(PyRepr.string(name))")
        }
        return stream
    }

    /// The definition that reads from `state`: a `StateDelegatingStream`'s incremental stream
    /// once it has a state, unless that state is older than the API's retention (`reset`).
    private func definition(of name: String, state: PyValue?) throws -> (stream: StreamDefinition, state: PyValue?, reset: Bool) {
        let stream = try definition(of: name)
        guard let delegation = source.delegations[name] else { return (stream, state, false) }
        return try delegation.choose(full: stream, state: state, context: baseContext())
    }

    private func readStream(_ stream: StreamDefinition, state: PyValue?, only partition: PyValue?, emit: Emit) async throws {
        if let count = stream.countCursor { return try await readCountStream(stream, cursor: count, state: state, emit: emit) }
        let context = baseContext()
        let cachedStreams = source.parentNames
        var running = false
        var newest: PyDateTime?
        let cursorField = try stream.cursor?.cursorFieldName(context)
        var priorCursor: PyDateTime?
        if let cursor = stream.cursor, let cursorField, case .dict(let stateDict)? = state, let stored = stateDict[cursorField] {
            priorCursor = cursor.parse(stored, formats: [cursor.datetimeFormat] + cursor.cursorFormats)
        }
        let partitions: [PartitionRouter.Partition]
        if case .dict(let values)? = partition {
            // The request options are derived from the values, as the CDK's routers do it, so a
            // partition read on its own needs no second read of the parent.
            partitions = [try PartitionRouter.partition(values, routers: stream.routers, context: context)]
        } else {
            partitions = try await self.partitions(stream, context: context)
        }
        // As the CDK: the state is the newest cursor value read (or the state it started from);
        // a stream that has read no record yet keeps its starting value, never a window's end.
        let starting = try stream.cursor.map { try $0.startDatetime(context) }
        var slices: [(start: PyDateTime, end: PyDateTime)]?
        func currentState(fallback: PyDateTime?) -> PyValue {
            guard let cursor = stream.cursor, let cursorField else { return .none }
            // As the CDK, which keeps the state it started from as its "legacy" state and
            // updates the cursor field in it: other keys of that state are carried along.
            var dict = PyDict()
            if case .dict(let started)? = state { dict = started }
            let candidates = [newest, priorCursor].compactMap { $0 }
            if let best = candidates.max() ?? fallback { dict[cursorField] = .string(cursor.format(best)) }
            return .dict(dict)
        }
        do {
            // Inside: a window that cannot be computed (an end that does not parse) fails the
            // stream after it reports its state, as any other failure of the read.
            slices = try stream.cursor.map { try $0.slices(state: state, context: context) }
            for slice in slices.map({ $0.map(Optional.some) }) ?? [nil] {
                // As the CDK, whose partitions run side by side: one that fails does not stop the
                // others (a rate limit or a cancellation does); the stream fails at the end.
                var failure: (any Error)?
                for partition in partitions {
                    do {
                        try await readSlice(stream, partition: partition, slice: slice, state: state, cached: cachedStreams.contains(stream.name),
                                            rateLimited: { try await emit(.rateLimited(stream: stream.name)) }) { selected, extracted in
                            try await Self.deliver(selected, extracted: extracted, of: stream, running: &running, emit: emit) { records in
                                guard let cursor = stream.cursor, let cursorField else { return }
                                for record in records {
                                    if let value = cursor.recordCursor(record, field: cursorField) { newest = max(newest ?? value, value) }
                                }
                            }
                        }
                    } catch let error where !(error is RateLimited) && !(error is CancellationError) && !Task.isCancelled && partitions.count > 1 {
                        failure = failure ?? error
                    }
                }
                if let failure { throw failure }
                if slice != nil { try await emit(.state(stream: stream.name, state: currentState(fallback: starting))) }
            }
        } catch {
            // As the CDK, a failing incremental stream still reports the state it had reached.
            if stream.cursor != nil {
                try await emit(.state(stream: stream.name, state: currentState(fallback: starting)))
            }
            throw error
        }
        if stream.cursor != nil {
            try await emit(.state(stream: stream.name, state: currentState(fallback: starting ?? slices?.last?.end ?? context.now)))
        } else {
            var dict = PyDict()
            dict["__ab_no_cursor_state_message"] = .bool(true)
            try await emit(.state(stream: stream.name, state: .dict(dict)))
        }
    }

    static func notAnObject(_ record: PyValue, stream: StreamDefinition) -> ManifestError {
        ManifestError(stream.path.appending("retriever").appending("record_selector"), "the record selector gave a \(record.typeName) where a record (a JSON object) belongs")
    }

    /// A record as the CDK emits it: its message serializer drops the top-level keys whose value
    /// is null (nested nulls and nulls in lists stay). The cursor and the paginator saw it whole.
    static func emitted(_ record: PyValue) -> PyValue {
        guard case .dict(let fields) = record, fields.entries.contains(where: { if case .none = $0.value { true } else { false } }) else {
            return record
        }
        var kept = PyDict()
        for entry in fields.entries {
            if case .none = entry.value { continue }
            kept[entry.key] = entry.value
        }
        return .dict(kept)
    }

    /// The cartesian product of the stream's partition routers (one empty partition without any).
    private func partitions(_ stream: StreamDefinition, context: ExpressionContext) async throws -> [PartitionRouter.Partition] {
        var product = [PartitionRouter.Partition()]
        for router in stream.routers {
            let next = try await router.partitions(reader: self, context: context)
            product = product.flatMap { left in
                next.map { right in
                    var merged = left
                    for (key, value) in right.values.entries { merged.values[key] = value }
                    merged.injections += right.injections
                    return merged
                }
            }
        }
        return product
    }

    /// Reads a parent stream in full for a substream router, with each record's partition.
    func readParent(_ stream: StreamDefinition, onRecord: (PyValue, PyDict) throws -> Void) async throws {
        let context = baseContext()
        let partitions = try await self.partitions(stream, context: context)
        let slices = try stream.cursor.map { try $0.slices(state: nil, context: context) }
        for slice in slices.map({ $0.map(Optional.some) }) ?? [nil] {
            for partition in partitions {
                var collected: [PyValue] = []
                try await readSlice(stream, partition: partition, slice: slice, state: nil, cached: true) { records, _ in collected += records }
                for record in collected { try onRecord(record, partition.values) }
            }
        }
    }
}
