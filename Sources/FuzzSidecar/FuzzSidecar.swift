import Foundation
import FuzzDriver
import HubConnectors

// libFuzzer target: a connector's `hub.yaml` (schedule, streams' sensitive and blind-indexed
// fields, the webhook policy), as loaded when an operator publishes the connector.

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
    _ = try? ConnectorSidecar(yaml: text)
    return 0
}
