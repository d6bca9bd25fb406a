/// What went wrong evaluating or parsing an interpolation. The component that owns the
/// expression adds its manifest path when it turns this into a `HubError`.
public struct ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// Jinja's `UndefinedError`: the CDK falls back to the expression's default on it.
    public let isUndefined: Bool

    public init(_ message: String, isUndefined: Bool = false) {
        self.message = message
        self.isUndefined = isUndefined
    }

    public var description: String { message }
}
