import Foundation
import FuzzDriver

/// The entry point of every fuzz target: `Fuzzer.run { bytes in … }` from the target's `main`
/// hands each input libFuzzer generates to `test`. Errors are the expected outcome for most
/// inputs, so `test` ignores them; a crash, a hang or a blown memory limit is a finding.
public enum Fuzzer {
    /// The target's test. Set once, before libFuzzer starts, and only read afterwards, from
    /// libFuzzer's single fuzzing thread: a C callback cannot capture it.
    nonisolated(unsafe) static var test: ([UInt8]) -> Void = { _ in }

    /// Runs libFuzzer with the process's arguments (corpus folders, -max_total_time=…) and
    /// exits with its status.
    public static func run(_ test: @escaping ([UInt8]) -> Void) -> Never {
        Self.test = test
        exit(tributary_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv) { start, count in testOneInput(start, count) })
    }
}

/// One input. Exported under the name libFuzzer's own `main` (which -sanitize=fuzzer links in
/// too) looks for, so the binary works whichever `main` the linker keeps.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    Fuzzer.test(start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
