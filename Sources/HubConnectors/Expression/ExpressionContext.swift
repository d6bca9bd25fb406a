/// What an expression can see: its variables (`config`, `parameters`, `stream_slice`, …) and
/// the clock that `now_utc()` reads, injected so tests and `TRIBUTARY_FROZEN_NOW` can fix it.
public struct ExpressionContext: Sendable {
    public var variables: [String: PyValue]
    public var now: PyDateTime

    public init(variables: [String: PyValue] = [:], now: PyDateTime) {
        self.variables = variables
        self.now = now
    }

    public subscript(name: String) -> PyValue? {
        get { variables[name] }
        set { variables[name] = newValue }
    }
}
