import Synchronization

/// Reading a stream page by page: one partition and cursor slice at a time, and what each
/// page's records go through before they are emitted.
extension StreamReader {
    /// A page's records as the CDK hands them on: the page counted, `running` reported before
    /// the first record, `track` shown the records (for a cursor's newest value), and the
    /// stream failed at the first record that is not an object, after the ones before it.
    static func deliver(_ selected: [PyValue], extracted: Int, of stream: StreamDefinition, running: inout Bool, emit: Emit,
                        track: ([PyValue]) -> Void) async throws {
        try await emit(.page(stream: stream.name, records: extracted))
        let invalid = selected.firstIndex { if case .dict = $0 { false } else { true } }
        let records = invalid.map { Array(selected[..<$0]) } ?? selected
        if !records.isEmpty {
            if !running {
                running = true
                try await emit(.running(stream: stream.name))
            }
            track(records)
            try await emit(.records(stream: stream.name, data: records.map(Self.emitted)))
        }
        if let invalid { throw Self.notAnObject(selected[invalid], stream: stream) }
    }

    /// Reads one partition × cursor slice page by page. The next page's request starts as
    /// soon as this page's token is known, so the API's latency overlaps the consumer's work.
    func readSlice(_ stream: StreamDefinition, partition: PartitionRouter.Partition,
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

        // A stream with QueryProperties asks for each page once per chunk of properties.
        let query = stream.requester.queryProperties
        let chunks: [[String]]? = if let query { try await queryPropertyChunks(query) } else { nil }
        func requestContext(_ token: PyValue?, properties: [String]? = nil) -> ExpressionContext {
            var requestContext = context
            if let properties, query?.parameter == nil {
                // Where the manifest reads them: `stream_partition.extra_fields.query_properties`.
                var extra = PyDict()
                extra["query_properties"] = .list(properties.map(PyValue.string))
                var values = sliceValues
                values["extra_fields"] = .dict(extra)
                for name in ["stream_slice", "stream_interval", "stream_partition"] { requestContext[name] = .dict(values) }
            }
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
        func prepare(_ token: PyValue?, properties: [String]?) async throws -> @Sendable () async throws -> HTTPResponseData? {
            let requestContext = requestContext(token, properties: properties)
            var parts = try stream.requester.prepare(context: requestContext)
            if let properties, let parameter = query?.parameter { parts.parameters[parameter] = .string(properties.joined(separator: ",")) }
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

        /// The page for `token`: one response, or one per chunk of properties in chunk order;
        /// nil when the error handler said to ignore one.
        func fetch(_ token: PyValue?) async throws -> @Sendable () async throws -> [HTTPResponseData]? {
            guard let chunks else {
                let send = try await prepare(token, properties: nil)
                return { try await send().map { [$0] } }
            }
            var sends: [@Sendable () async throws -> HTTPResponseData?] = []
            for chunk in chunks { sends.append(try await prepare(token, properties: chunk)) }
            let prepared = sends
            return {
                var responses: [HTTPResponseData] = []
                var bytes = 0
                for send in prepared {
                    guard let response = try await send() else { return nil }
                    // A page's chunks are held until the last one is in: bounded together.
                    bytes += response.body.count
                    guard bytes <= QueryProperties.maxPageBytes else {
                        throw RequestFailure(status: response.status, message: "the chunks of one page came to more than "
                                             + "\(QueryProperties.maxPageBytes >> 20) MiB", path: stream.requester.manifestPath, attempts: 1)
                    }
                    responses.append(response)
                }
                return responses
            }
        }

        // The next page's request runs as a child task while this page is consumed, so the API's
        // latency overlaps the consumer's work; a failure or cancellation cancels it with the loop.
        try await withThrowingTaskGroup(of: [HTTPResponseData]?.self) { requests in
            var token = stream.paginator?.initialToken
            requests.addTask(operation: try await fetch(token))
            var pages = 0
            while true {
                pages += 1
                if pages > 1_000_000 {
                    throw ManifestError(stream.path, "more than a million pages in one slice; is the paginator looping?")
                }
                let answer: [HTTPResponseData]?
                do {
                    // One request is in flight at a time: this is the page for `token`.
                    answer = try await requests.next() ?? nil
                } catch {
                    try await reportRateLimits()
                    throw error
                }
                try await reportRateLimits()
                guard let responses = answer, let response = responses.last else {
                    // As the CDK: an ignored response ends this slice. The pass is not whole, so a
                    // full refresh must not treat what it didn't see as deleted.
                    ignored.record()
                    return
                }
                var records: [PyValue] = []
                var pageSize = 0
                // Records merged across the chunks, by their merge key, in first-seen order.
                var merged: [String: PyDict] = [:]
                var mergedOrder: [String] = []
                var decoded = PyValue.none
                var pageContext = requestContext(token)
                for (index, chunkResponse) in responses.enumerated() {
                    pageContext = requestContext(token, properties: chunks?[index])
                    do { decoded = try stream.decoder.decode(chunkResponse.body, path: stream.requester.manifestPath) } catch let error as ResponseDecodingError {
                        let what = if case .json = stream.decoder { "is not valid JSON" } else { "could not be decoded" }
                        throw RequestFailure(status: chunkResponse.status, message: "the response \(what): \(error.message)",
                                             path: stream.requester.manifestPath, attempts: 1)
                    }
                    var recordContext = pageContext
                    recordContext["response"] = decoded
                    let (extracted, extractedCount) = try stream.selector.extract(decoded, context: recordContext)
                    pageSize = extractedCount
                    records.reserveCapacity(records.count + extracted.count)
                    for var item in extracted {
                        guard try stream.selector.keep(item, context: recordContext) else { continue }
                        for transformation in stream.transformations { try transformation.apply(to: &item, context: recordContext) }
                        if let query, let key = try query.mergeKey(of: item), case .dict(let fields) = item {
                            if merged[key] == nil { mergedOrder.append(key) }
                            QueryProperties.deepMerge(&merged[key, default: PyDict()], fields)
                        } else {
                            records.append(item)
                        }
                    }
                }
                if query != nil {
                    // As the CDK: merged records follow the ones without a key, and the page's size
                    // is what was emitted.
                    records += mergedOrder.compactMap { merged[$0].map(PyValue.dict) }
                    pageSize = records.count
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
                if let next { requests.addTask(operation: try await fetch(next)) }
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
