import Foundation
import FuzzDriver
import HubConnectors

// libFuzzer target: a manifest as an operator publishes it — YAML loaded, `$ref`s and
// `$parameters` resolved, then every component checked (resolution is the initializer's first step).

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
    _ = try? DeclarativeSource(yaml: text)
    return 0
}
