import FuzzSupport
import HubConnectors

// libFuzzer target: a manifest as an operator publishes it — YAML loaded, `$ref`s and
// `$parameters` resolved, then every component checked (resolution is the initializer's first step).

@main
enum Main {
    static func main() { Fuzzer.run(fuzz) }
}

func fuzz(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    _ = try? DeclarativeSource(yaml: text)
}
