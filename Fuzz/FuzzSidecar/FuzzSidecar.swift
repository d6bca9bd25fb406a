import FuzzSupport
import HubConnectors

// libFuzzer target: a connector's `hub.yaml` (schedule, streams' sensitive and blind-indexed
// fields, the webhook policy), as loaded when an operator publishes the connector.

@main
enum Main {
    static func main() { Fuzzer.run(fuzz) }
}

func fuzz(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    _ = try? ConnectorSidecar(yaml: text)
}
