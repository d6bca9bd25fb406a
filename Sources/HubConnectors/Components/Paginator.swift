/// `DefaultPaginator` with its strategies, or `NoPagination`.
struct Paginator: Sendable {
    enum Strategy: Sendable {
        case cursor(value: BoundInterpolation, stop: BoundInterpolation?, pageSize: Int?)
        case offset(pageSize: BoundInterpolation?, injectOnFirst: Bool)
        case page(pageSize: Int?, startFrom: Int, injectOnFirst: Bool)
    }

    let strategy: Strategy
    let tokenOption: RequestOption?
    let sizeOption: RequestOption?

    static func make(_ node: ComponentNode?) throws -> Paginator? {
        guard let node, node.type != "NoPagination" else { return nil }
        guard node.type == "DefaultPaginator" else {
            throw ManifestError(node.path, "unsupported paginator \(node.kindDescription)")
        }
        let strategyNode = try node.requiredChild("pagination_strategy")
        let strategy: Strategy
        switch strategyNode.type {
        case "CursorPagination":
            guard let value = try strategyNode.interpolation("cursor_value") else {
                throw ManifestError(strategyNode.path.appending("cursor_value"), "is required")
            }
            strategy = .cursor(value: value, stop: try strategyNode.interpolation("stop_condition", default: "False"),
                               pageSize: try strategyNode.int("page_size"))
        case "OffsetIncrement":
            strategy = .offset(pageSize: try strategyNode.interpolation("page_size"),
                               injectOnFirst: try strategyNode.bool("inject_on_first_request", default: false))
        case "PageIncrement":
            strategy = .page(pageSize: try strategyNode.int("page_size"), startFrom: try strategyNode.int("start_from_page") ?? 0,
                             injectOnFirst: try strategyNode.bool("inject_on_first_request", default: false))
        default:
            throw ManifestError(strategyNode.path, "unsupported pagination strategy \(strategyNode.kindDescription)")
        }
        return Paginator(strategy: strategy, tokenOption: try node.child("page_token_option").map(RequestOption.init),
                         sizeOption: try node.child("page_size_option").map(RequestOption.init))
    }

    var initialToken: PyValue? {
        switch strategy {
        case .cursor: return nil
        case .offset(_, let injectOnFirst): return injectOnFirst ? .int(0) : nil
        case .page(_, let startFrom, let injectOnFirst): return injectOnFirst ? .int(startFrom) : nil
        }
    }

    func pageSize(_ context: ExpressionContext) throws -> Int? {
        switch strategy {
        case .cursor(_, _, let size): return size
        case .page(let size, _, _): return size
        case .offset(let size, _): return try size.flatMap { Operators.integer(try $0.evaluate(context)) }
        }
    }

    func inject(token: PyValue?, into request: inout RequestParts, context: ExpressionContext) throws {
        if let token, token != .none, let tokenOption {
            try tokenOption.inject(token, into: &request, context: context)
        }
        if let sizeOption, let size = try pageSize(context) {
            try sizeOption.inject(.int(size), into: &request, context: context)
        }
    }

    /// The next page's token, or nil when pagination ends.
    func nextToken(decoded: PyValue, headers: PyValue, lastPageSize: Int, lastRecord: PyValue?,
                   lastToken: PyValue?, context: ExpressionContext) throws -> PyValue? {
        switch strategy {
        case .cursor(let value, let stop, let size):
            var scoped = context
            scoped["response"] = decoded
            scoped["headers"] = headers
            scoped["last_record"] = lastRecord ?? PyValue.none
            scoped["last_page_size"] = .int(lastPageSize)
            scoped["page_size"] = size.map(PyValue.int) ?? PyValue.none
            if let stop, try stop.truth(scoped) { return nil }
            let token = try value.evaluate(scoped)
            return token.isTruthy ? token : nil
        case .offset:
            let size = try pageSize(context)
            if let size, lastPageSize < size { return nil }
            if lastPageSize == 0 { return nil }
            guard let lastToken, lastToken != .none else { return .int(lastPageSize) }
            guard let previous = Operators.integer(lastToken) else {
                throw ExpressionError("Last page token value \(PyRepr.str(lastToken)) for OffsetIncrement pagination strategy was not an integer")
            }
            return .int(previous + lastPageSize)
        case .page(let size, let startFrom, _):
            if let size, lastPageSize < size { return nil }
            if lastPageSize == 0 { return nil }
            guard let lastToken, lastToken != .none else { return .int(startFrom + 1) }
            guard let previous = Operators.integer(lastToken) else {
                throw ExpressionError("Last page token value \(PyRepr.str(lastToken)) for PageIncrement pagination strategy was not an integer")
            }
            return .int(previous + 1)
        }
    }
}
