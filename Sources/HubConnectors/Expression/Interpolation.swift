/// The CDK's `JinjaInterpolation.eval`: render the template, and when that gives text, turn it
/// into a Python literal where it is one; on an empty result or an undefined value, fall back
/// to the default template.
public struct Interpolation: Sendable {
    public let template: Template
    public let defaultTemplate: Template?
    /// Whether the source names `stream_state`, found once here rather than on every evaluation.
    let namesStreamState: Bool

    public init(_ template: Template, default defaultTemplate: Template? = nil) {
        self.template = template
        self.defaultTemplate = defaultTemplate
        namesStreamState = template.source.contains("stream_state")
    }

    public init(_ source: String, default defaultSource: String? = nil) throws {
        try self.init(Template(source), default: defaultSource.map(Template.init))
    }

    /// `InterpolatedString` semantics: the default is the string itself unless given.
    public static func string(_ source: String, default defaultSource: String? = nil) throws -> Interpolation {
        let template = try Template(source)
        return Interpolation(template, default: try defaultSource.map(Template.init) ?? template)
    }

    public var isPlain: Bool { template.isPlain && (defaultTemplate?.isPlain ?? true) }

    /// What CDK 7 says of a template that mentions `stream_state` (it looks for the word in
    /// the source, wherever it appears), and refuses to evaluate.
    static let streamStateRefusal = "`stream_state` is no longer supported for interpolation. We recommend using `stream_interval` "
        + "instead. Please reference the CDK Migration Guide for more information."

    /// `strict` lets a type error fail the evaluation, where the CDK would render the
    /// template's own text: Tributary's own expressions (unified mappings) want the error.
    public func evaluate(_ context: ExpressionContext, validTypes: Set<String>? = nil, strict: Bool = false) throws -> PyValue {
        if namesStreamState { throw ExpressionError(Self.streamStateRefusal) }
        try Self.checkDeclared(template, context)
        do {
            let rendered = strict ? try template.render(context) : try Self.render(template, context)
            if !rendered.isEmpty { return Self.literal(rendered, validTypes: validTypes) }
        } catch let error as ExpressionError where error.isUndefined {
            // The CDK catches UndefinedError here and renders the default instead.
        }
        guard let defaultTemplate else { return .none }
        try Self.checkDeclared(defaultTemplate, context)
        return Self.literal(try Self.render(defaultTemplate, context), validTypes: validTypes)
    }

    /// The CDK's `_eval`: a `TypeError` while rendering gives the template's source text
    /// (it takes the template for a static value), so `"{{ 'p1' + 1 }}"` is sent as written.
    static func render(_ template: Template, _ context: ExpressionContext) throws -> String {
        do {
            return try template.render(context)
        } catch let error as ExpressionError where error.isTypeError {
            return template.source
        }
    }

    /// The CDK refuses a template that names a variable its context lacks (macros are globals).
    static func checkDeclared(_ template: Template, _ context: ExpressionContext) throws {
        for name in template.variableNames where context.variables[name] == nil && !Interpreter.macroNames.contains(name)
            && !["true", "false", "none", "True", "False", "None"].contains(name) {
            throw ExpressionError("the expression uses \(name), which is not available here")
        }
    }

    static func literal(_ rendered: String, validTypes: Set<String>?) -> PyValue {
        guard let value = LiteralEval.evaluate(rendered) else { return .string(rendered) }
        if let validTypes, !validTypes.contains(value.typeName) { return .string(rendered) }
        return value
    }
}
