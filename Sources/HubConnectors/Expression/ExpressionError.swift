/// What went wrong evaluating or parsing an interpolation. The component that owns the
/// expression adds its manifest path when it turns this into a `HubError`.
public struct ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// Jinja's `UndefinedError`: the CDK falls back to the expression's default on it.
    public let isUndefined: Bool
    /// Python's `TypeError` (an operand or argument of the wrong type): the CDK's Jinja
    /// rendering catches it and uses the template's source text as the value.
    public let isTypeError: Bool

    public init(_ message: String, isUndefined: Bool = false, isTypeError: Bool = false) {
        self.message = message
        self.isUndefined = isUndefined
        self.isTypeError = isTypeError
    }

    public var description: String { message }
}
