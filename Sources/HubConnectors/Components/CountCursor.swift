import Foundation

/// `IncrementingCountCursor`: incremental reads over an integer that only grows (an event
/// sequence, an auto-increment id). As the CDK runs it, a `ConcurrentCursor` over integers:
/// one slice starting at the saved value (or `start_value` when that is higher, or no state
/// was saved), sent through `start_value_option`; no record is filtered; the state is the
/// highest value read, or the start when nothing was read.
struct CountCursor: Sendable {
    let cursorField: BoundInterpolation
    let start: BoundInterpolation?
    let startOption: RequestOption?
    let path: ManifestPath

    init(_ node: ComponentNode) throws {
        guard let cursorField = try node.interpolation("cursor_field") else {
            throw ManifestError(node.path.appending("cursor_field"), "is required")
        }
        self.cursorField = cursorField
        start = try node.interpolation("start_value")
        startOption = try node.child("start_value_option").map(RequestOption.init)
        path = node.path
    }

    func cursorFieldName(_ context: ExpressionContext) throws -> String { PyRepr.str(try cursorField.evaluate(context)) }

    /// The configured start (0 by default), an integer as the CDK requires (`int(...)`).
    func startValue(_ context: ExpressionContext) throws -> Int {
        guard let start else { return 0 }
        let value = try start.evaluate(context)
        switch value {
        case .int(let number): return number
        case .string(let text):
            if let number = Int(text.trimmingCharacters(in: .whitespaces)) { return number }
        case .float(let number) where number == number.rounded() && abs(number) < 9e15: return Int(number)
        default: break
        }
        throw ManifestError(path.appending("start_value"), "must evaluate to an integer, found \(PyRepr.repr(value))")
    }

    /// Where the read starts: the saved value when there is one at or above the start (a saved
    /// 0 counts as none, as in the CDK), else the start.
    func syncStart(state: PyValue?, field: String, context: ExpressionContext) throws -> Int {
        let start = try startValue(context)
        if case .dict(let saved)? = state, let stored = saved[field].flatMap(Self.integer), stored != 0, stored >= start { return stored }
        return start
    }

    /// A record's cursor value, when it is a number (a null or missing one does not count).
    static func integer(_ value: PyValue) -> Int? {
        switch value {
        case .int(let number): return number
        case .float(let number) where number == number.rounded() && abs(number) < 9e15: return Int(number)
        default: return nil
        }
    }
}
