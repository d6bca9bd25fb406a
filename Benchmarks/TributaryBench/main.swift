import Foundation

// Entry point of `scripts/bench NAME [--json]`; each benchmark prints its figure beside the
// limit or peer measured in the same run, since only ratios hold on a shared machine.

let arguments = Array(CommandLine.arguments.dropFirst())
let json = arguments.contains("--json")
let names = arguments.filter { !$0.hasPrefix("--") }

guard names.count == 1 else {
    FileHandle.standardError.write(Data("usage: tributary-bench crypto [--json]\n".utf8))
    exit(2)
}

switch names[0] {
case "crypto":
    await CryptoBenchmark.run(json: json)
default:
    FileHandle.standardError.write(Data("unknown benchmark '\(names[0])'; available: crypto\n".utf8))
    exit(2)
}
