import FuzzSupport
import HubConnectors

// libFuzzer target: Python literal evaluation (the CDK's `ast.literal_eval` of rendered text).
// It is internal to HubConnectors; every interpolation's rendered text goes through it, so the
// input reaches it as the rendered value of `{{ value }}`, the path a connector's data takes.

private let template: Interpolation? = try? Interpolation("{{ value }}")
private let now = PyDateTime(year: 2024, month: 6, day: 1, offset: 0)

@main
enum Main {
    static func main() { Fuzzer.run(fuzz) }
}

func fuzz(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    let context = ExpressionContext(variables: ["value": .string(text)], now: now)
    // Whatever the text holds, the result is a value (the literal, or the text itself): never an error.
    _ = try? template?.evaluate(context)
    _ = try? template?.evaluate(context, validTypes: ["int", "float"])
}
