import Foundation
import FuzzDriver
import HubConnectors

// libFuzzer target: Python literal evaluation (the CDK's `ast.literal_eval` of rendered text).
// It is internal to HubConnectors; every interpolation's rendered text goes through it, so the
// input reaches it as the rendered value of `{{ value }}`, the path a connector's data takes.

private let template: Interpolation? = try? Interpolation("{{ value }}")
private let now = PyDateTime(year: 2024, month: 6, day: 1, offset: 0)

@main
enum Main {
    static func main() {
        exit(tributary_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv) { start, count in fuzz(start, count) })
    }
}

/// One input; libFuzzer calls this millions of times (the symbol is the one libFuzzer links against).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    let context = ExpressionContext(variables: ["value": .string(text)], now: now)
    // Whatever the text holds, the result is a value (the literal, or the text itself): never an error.
    _ = try? template?.evaluate(context)
    _ = try? template?.evaluate(context, validTypes: ["int", "float"])
    return 0
}
