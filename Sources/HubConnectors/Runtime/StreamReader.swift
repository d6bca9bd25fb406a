import Synchronization

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
                            try await emit(.page(stream: stream.name, records: extracted))
                            // A record must be an object: the CDK fails the stream at the first that
                            // is not, after emitting the ones before it.
                            let invalid = selected.firstIndex { if case .dict = $0 { false } else { true } }
                            let records = invalid.map { Array(selected[..<$0]) } ?? selected
                            guard !records.isEmpty else {
                                if let invalid { throw Self.notAnObject(selected[invalid], stream: stream) }
                                return
                            }
                            if !running {
                                running = true
                                try await emit(.running(stream: stream.name))
                            }
                            if let cursor = stream.cursor, let cursorField {
                                for record in records {
                                    if let value = cursor.recordCursor(record, field: cursorField) { newest = max(newest ?? value, value) }
                                }
                            }
                            try await emit(.records(stream: stream.name, data: records.map(Self.emitted)))
                            if let invalid { throw Self.notAnObject(selected[invalid], stream: stream) }
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

    /// A stream with an `IncrementingCountCursor`: one read from its start value, the state
    /// after it when records came (and at the end, as the CDK emits them).
    private func readCountStream(_ stream: StreamDefinition, cursor: CountCursor, state: PyValue?, emit: Emit) async throws {
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
                try await emit(.page(stream: stream.name, records: extracted))
                let invalid = selected.firstIndex { if case .dict = $0 { false } else { true } }
                let records = invalid.map { Array(selected[..<$0]) } ?? selected
                if !records.isEmpty {
                    if !running {
                        running = true
                        try await emit(.running(stream: stream.name))
                    }
                    for case .dict(let fields) in records {
                        if let value = fields[field].flatMap(CountCursor.integer) { newest = max(newest ?? value, value) }
                    }
                    try await emit(.records(stream: stream.name, data: records.map(Self.emitted)))
                }
                if let invalid { throw Self.notAnObject(selected[invalid], stream: stream) }
            }
        } catch {
            try await emit(.state(stream: stream.name, state: currentState()))
            throw error
        }
        if running { try await emit(.state(stream: stream.name, state: currentState())) }
        try await emit(.state(stream: stream.name, state: currentState()))
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

    /// Reads one partition × cursor slice page by page. The next page's request starts as
    /// soon as this page's token is known, so the API's latency overlaps the consumer's work.
    private func readSlice(_ stream: StreamDefinition, partition: PartitionRouter.Partition,
                           slice: (start: PyDateTime, end: PyDateTime)?, state: PyValue?, cached: Bool = false,
                           rateLimited: () async throws -> Void = {},
                           page: ([PyValue], Int) async throws -> Void) async throws {
        let cached = cached || stream.requester.useCache
        let cache = self.cache
        var sliceValues = partition.values
        if let slice, let cursor = stream.cursor {
            for (key, value) in cursor.sliceValues(slice).entries { sliceValues[key] = value }
        }
        var context = baseContext()
        context["stream_slice"] = .dict(sliceValues)
        context["stream_interval"] = .dict(sliceValues)
        context["stream_partition"] = .dict(sliceValues)
        context["stream_state"] = state ?? .dict(PyDict())

        func requestContext(_ token: PyValue?) -> ExpressionContext {
            var requestContext = context
            if let token {
                var wrapper = PyDict()
                wrapper["next_page_token"] = token
                requestContext["next_page_token"] = .dict(wrapper)
            } else {
                requestContext["next_page_token"] = PyValue.none
            }
            return requestContext
        }
        let transport = self.transport, environment = self.environment, tokens = self.tokens
        // Counted where the request runs, reported here in the read's own order.
        let rateLimits = EventCounter()
        func reportRateLimits() async throws {
            for _ in 0..<rateLimits.take() { try await rateLimited() }
        }
        /// Prepares the request for `token` (its parts, authentication) and returns the send,
        /// to run as a child task of the page loop.
        func prepare(_ token: PyValue?) async throws -> @Sendable () async throws -> HTTPResponseData? {
            let requestContext = requestContext(token)
            var parts = try stream.requester.prepare(context: requestContext)
            try stream.paginator?.inject(token: token, into: &parts, context: requestContext)
            if let slice { try stream.cursor?.inject(slice, into: &parts, context: requestContext) }
            for (option, value) in partition.injections { try option.inject(value, into: &parts, context: requestContext) }
            let unauthenticated = parts
            let authenticator = stream.requester.authenticator
            try await authenticator.apply(to: &parts, context: requestContext, transport: transport,
                                          environment: environment, tokens: tokens)
            let prepared = parts
            // REFRESH_TOKEN_THEN_RETRY: the token is dropped and the request authenticated anew.
            let retryWithNewToken: Requester.Reauthenticate? = !authenticator.refreshes ? nil : { @Sendable in
                await authenticator.invalidate(tokens: tokens)
                var fresh = unauthenticated
                try await authenticator.apply(to: &fresh, context: requestContext, transport: transport,
                                              environment: environment, tokens: tokens)
                return try Requester.wireRequest(fresh)
            }
            return {
                guard cached, prepared.method == "GET" else {
                    return try await stream.requester.sendAllowingIgnore(prepared, transport: transport, context: requestContext,
                                                                         environment: environment, reauthenticate: retryWithNewToken,
                                                                         rateLimited: rateLimits.increment)
                }
                let key = try Requester.wireRequest(prepared).url
                if let hit = await cache.response(for: key) { return hit }
                let response = try await stream.requester.sendAllowingIgnore(prepared, transport: transport, context: requestContext,
                                                                             environment: environment, reauthenticate: retryWithNewToken,
                                                                             rateLimited: rateLimits.increment)
                if let response { await cache.store(response, for: key) }
                return response
            }
        }

        // The next page's request runs as a child task while this page is consumed, so the API's
        // latency overlaps the consumer's work; a failure or cancellation cancels it with the loop.
        try await withThrowingTaskGroup(of: HTTPResponseData?.self) { requests in
            var token = stream.paginator?.initialToken
            requests.addTask(operation: try await prepare(token))
            var pages = 0
            while true {
                pages += 1
                if pages > 1_000_000 {
                    throw ManifestError(stream.path, "more than a million pages in one slice; is the paginator looping?")
                }
                let answer: HTTPResponseData?
                do {
                    // One request is in flight at a time: this is the page for `token`.
                    answer = try await requests.next() ?? nil
                } catch {
                    try await reportRateLimits()
                    throw error
                }
                try await reportRateLimits()
                guard let response = answer else {
                    // As the CDK: an ignored response ends this slice. The pass is not whole, so a
                    // full refresh must not treat what it didn't see as deleted.
                    ignored.record()
                    return
                }
                let pageContext = requestContext(token)
                let decoded: PyValue
                do { decoded = try stream.decoder.decode(response.body, path: stream.requester.manifestPath) } catch let error as ResponseDecodingError {
                    let what = if case .json = stream.decoder { "is not valid JSON" } else { "could not be decoded" }
                    throw RequestFailure(status: response.status, message: "the response \(what): \(error.message)",
                                         path: stream.requester.manifestPath, attempts: 1)
                }
                var recordContext = pageContext
                recordContext["response"] = decoded
                let (extracted, pageSize) = try stream.selector.extract(decoded, context: recordContext)
                var records: [PyValue] = []
                records.reserveCapacity(extracted.count)
                for var item in extracted {
                    guard try stream.selector.keep(item, context: recordContext) else { continue }
                    for transformation in stream.transformations { try transformation.apply(to: &item, context: recordContext) }
                    records.append(item)
                }
                var next: PyValue?
                if let paginator = stream.paginator {
                    // As the CDK's paginators, which read `next(decoder.decode(response))`: of a body
                    // that is a list, its first element (an empty mapping for an empty list).
                    let paged: PyValue
                    if stream.decoder.consumesBody {
                        paged = .dict(PyDict())
                    } else if case .list(let items) = decoded {
                        paged = items.first ?? .dict(PyDict())
                    } else {
                        paged = decoded
                    }
                    next = try paginator.nextToken(decoded: paged, headers: ErrorHandler.paginationHeaders(response),
                                                   lastPageSize: pageSize, lastRecord: records.last,
                                                   lastToken: token, context: pageContext)
                }
                if let next { requests.addTask(operation: try await prepare(next)) }
                try await page(records, pageSize)
                guard let next else { return }
                token = next
            }
        }
    }
}

/// A count that request tasks raise and the read takes, so that what happened inside a
/// request (a rate limit) is reported in the read's own order.
private final class EventCounter: Sendable {
    private let value = Atomic<Int>(0)

    @Sendable func increment() {
        value.add(1, ordering: .relaxed)
    }

    func take() -> Int {
        value.exchange(0, ordering: .relaxed)
    }
}
