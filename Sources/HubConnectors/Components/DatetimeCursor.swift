/// `DatetimeBasedCursor`: cuts the range from the state (or start) to the end into steps,
/// injects each step's bounds, and tracks the newest record cursor for the state.
struct DatetimeCursor: Sendable {
    struct Bound: Sendable {
        let datetime: BoundInterpolation
        let format: String?
        let minimum: BoundInterpolation?
        let maximum: BoundInterpolation?
    }

    let cursorField: BoundInterpolation
    let datetimeFormat: String
    let cursorFormats: [String]
    let start: Bound
    let end: Bound?
    let step: BoundInterpolation?
    let granularity: BoundInterpolation?
    let lookback: BoundInterpolation?
    let startOption: RequestOption?
    let endOption: RequestOption?
    let startField: String
    let endField: String
    let path: ManifestPath

    init(_ node: ComponentNode) throws {
        guard node.type == "DatetimeBasedCursor" else {
            throw ManifestError(node.path, "unsupported incremental_sync \(node.kindDescription)")
        }
        guard let cursorField = try node.interpolation("cursor_field") else {
            throw ManifestError(node.path.appending("cursor_field"), "is required")
        }
        self.cursorField = cursorField
        datetimeFormat = try node.requiredString("datetime_format")
        cursorFormats = try node.stringList("cursor_datetime_formats")
        func bound(_ key: String) throws -> Bound? {
            guard let value = node.value(key) else { return nil }
            if case .dict = value {
                let child = try node.requiredChild(key)
                guard let datetime = try child.interpolation("datetime") else {
                    throw ManifestError(child.path.appending("datetime"), "is required")
                }
                return Bound(datetime: datetime, format: try child.string("datetime_format").flatMap { $0.isEmpty ? nil : $0 },
                             minimum: try child.interpolation("min_datetime"), maximum: try child.interpolation("max_datetime"))
            }
            guard let datetime = try node.interpolation(key) else { return nil }
            return Bound(datetime: datetime, format: nil, minimum: nil, maximum: nil)
        }
        guard let start = try bound("start_datetime") else {
            throw ManifestError(node.path.appending("start_datetime"), "is required")
        }
        self.start = start
        end = try bound("end_datetime")
        // Durations may be interpolated (`P{{ config['days'] }}D`): checked now when plain,
        // when evaluated otherwise.
        func duration(_ key: String) throws -> BoundInterpolation? {
            guard let interpolation = try node.interpolation(key) else { return nil }
            if interpolation.isPlain, (try? ISO8601.parseDuration(interpolation.interpolation.template.source)) == nil {
                throw ManifestError(node.path.appending(key),
                                    "expected an ISO 8601 duration such as P1D, found \(PyRepr.string(interpolation.interpolation.template.source))")
            }
            return interpolation
        }
        step = try duration("step")
        granularity = try duration("cursor_granularity")
        if (step == nil) != (try node.string("cursor_granularity") == nil) {
            throw ManifestError(node.path, "step and cursor_granularity must be given together")
        }
        lookback = try node.interpolation("lookback_window")
        startOption = try node.child("start_time_option").map(RequestOption.init)
        endOption = try node.child("end_time_option").map(RequestOption.init)
        startField = try node.string("partition_field_start") ?? "start_time"
        endField = try node.string("partition_field_end") ?? "end_time"
        path = node.path
    }

    func cursorFieldName(_ context: ExpressionContext) throws -> String { PyRepr.str(try cursorField.evaluate(context)) }

    /// Parses a datetime the way the cursor's formats allow, falling back through them in order.
    func parse(_ value: PyValue, formats: [String]) -> PyDateTime? {
        if case .datetime(let datetime) = value { return datetime }
        let text = PyRepr.str(value)
        for format in formats {
            if let parsed = try? AirbyteDatetime.parse(text, format: format) { return parsed }
        }
        return nil
    }

    func format(_ datetime: PyDateTime) -> String { AirbyteDatetime.format(datetime, format: datetimeFormat) }

    private func evaluate(_ bound: Bound, _ context: ExpressionContext) throws -> PyDateTime {
        // As the CDK's MinMaxDatetime: the bound's own format, else the cursor's, and no other.
        let formats = [bound.format ?? datetimeFormat]
        func parsed(_ interpolation: BoundInterpolation, _ value: PyValue) throws -> PyDateTime {
            if let parsed = parse(value, formats: formats) { return parsed }
            throw ManifestError(interpolation.path, "\(PyRepr.repr(value)) does not match the datetime format \(PyRepr.string(formats[0]))")
        }
        // An empty minimum or maximum is no bound, as in the CDK.
        func limit(_ interpolation: BoundInterpolation?) throws -> PyDateTime? {
            guard let interpolation else { return nil }
            let value = try interpolation.evaluate(context)
            if value == .none || value == .string("") { return nil }
            return try parsed(interpolation, value)
        }
        var result = try parsed(bound.datetime, try bound.datetime.evaluate(context))
        if let minimum = try limit(bound.minimum) { result = max(result, minimum) }
        if let maximum = try limit(bound.maximum) { result = min(result, maximum) }
        return result
    }

    /// The configured start, evaluated: what a stream that reads nothing reports as its state.
    func startDatetime(_ context: ExpressionContext) throws -> PyDateTime {
        try evaluate(start, context)
    }

    /// What the CDK reads when it builds the stream, before any request: the start, and the
    /// step, granularity and lookback window as durations.
    func prepare(_ context: ExpressionContext) throws {
        _ = try startDatetime(context)
        for interpolation in [step, granularity, lookback].compactMap({ $0 }) { _ = try Self.duration(interpolation, context) }
    }

    static func duration(_ interpolation: BoundInterpolation, _ context: ExpressionContext) throws -> PyDuration {
        let text = try interpolation.text(context) ?? ""
        do { return try ISO8601.parseDuration(text) } catch {
            throw ManifestError(interpolation.path, "expected an ISO 8601 duration such as P1D, found \(PyRepr.string(text))")
        }
    }

    /// The cursor slices for this run, given the stream's current state.
    func slices(state: PyValue?, context: ExpressionContext) throws -> [(start: PyDateTime, end: PyDateTime)] {
        var lower = try evaluate(start, context)
        let upper = try end.map { try evaluate($0, context) } ?? context.now.converted(toOffset: 0)
        let field = try cursorFieldName(context)
        if case .dict(let stateDict)? = state, let stored = stateDict[field],
           let saved = parse(stored, formats: [datetimeFormat] + cursorFormats) {
            // As the CDK: the state, less the lookback window, but never before the start.
            var resumed = saved
            if let lookback, let text = try lookback.text(context), let window = try? ISO8601.parseDuration(text) {
                resumed = try saved.adding(window.negated())
            }
            lower = max(lower, resumed)
        }
        // The CDK's ConcurrentCursor: nothing when the range is empty; steps of `step`, each
        // ending one granularity before the next starts, except the last, which ends at the end.
        func duration(_ interpolation: BoundInterpolation) throws -> PyDuration { try Self.duration(interpolation, context) }
        let granularity = try self.granularity.map(duration) ?? PyDuration(micros: 0)
        // An empty range reads nothing; so does a single instant, unless a granularity makes it
        // one unit to read (the CDK's ConcurrentCursor, a zero granularity counting as none).
        let hasGranularity = granularity.months > 0 || granularity.micros > 0
        guard lower < upper || (lower == upper && hasGranularity) else { return [] }
        guard let step = try self.step.map(duration) else { return [(lower, upper)] }
        guard step.months > 0 || step.micros > 0 else { throw ManifestError(path.appending("step"), "the step must be positive") }
        if try lower.adding(step) >= upper { return [(lower, upper)] }
        var result: [(PyDateTime, PyDateTime)] = []
        var current = lower
        while result.count < 100_000 {
            let boundary = min(try current.adding(step), upper)
            let reached = boundary >= upper
            result.append((current, reached ? boundary : try boundary.adding(granularity.negated())))
            current = boundary
            if reached { break }
        }
        return result
    }

    func sliceValues(_ slice: (start: PyDateTime, end: PyDateTime)) -> PyDict {
        var values = PyDict()
        values[startField] = .string(format(slice.start))
        values[endField] = .string(format(slice.end))
        return values
    }

    func inject(_ slice: (start: PyDateTime, end: PyDateTime), into request: inout RequestParts, context: ExpressionContext) throws {
        try startOption?.inject(.string(format(slice.start)), into: &request, context: context)
        try endOption?.inject(.string(format(slice.end)), into: &request, context: context)
    }

    /// The record's cursor value as a datetime, when it has one that parses.
    func recordCursor(_ record: PyValue, field: String) -> PyDateTime? {
        guard case .dict(let dict) = record, let value = dict[field], value != .none else { return nil }
        return parse(value, formats: cursorFormats.isEmpty ? [datetimeFormat] : cursorFormats + [datetimeFormat])
    }
}
