import FuzzSupport
import HubConnectors

// libFuzzer target: the input is an interpolated string (lexed, parsed, evaluated and turned
// into a literal as a manifest's field is), then the same text as the body of one `{{ … }}`, so
// mutations that lack the braces still reach the expression parser. Errors are the expected
// outcome for most inputs; only a crash, a hang or a blown memory limit is a finding.

/// The variables a requester's interpolations see, small and fixed so a run is reproducible.
private let context: ExpressionContext = {
    var config = PyDict()
    config["start_date"] = .string("2024-01-01T00:00:00Z")
    config["page_size"] = .string("50")
    config["count"] = .int(3)
    config["ratio"] = .float(0.5)
    config["tags"] = .list([.string("a"), .string("b")])
    var response = PyDict()
    response["next"] = .string("https://api.example.com/items?page=2")
    response["has_more"] = .bool(true)
    response["data"] = .list([.int(1), .none])
    var partition = PyDict()
    partition["customer_id"] = .string("cus_1")
    var variables: [String: PyValue] = [
        "config": .dict(config),
        "parameters": .dict(PyDict()),
        "response": .dict(response),
        "stream_partition": .dict(partition),
        "stream_slice": .dict(partition),
        "next_page_token": .none,
        "stream_state": .dict(PyDict()),
    ]
    variables["last_record"] = .dict(partition)
    return ExpressionContext(variables: variables, now: PyDateTime(year: 2024, month: 6, day: 1, hour: 12, offset: 0))
}()

@main
enum Main {
    static func main() { Fuzzer.run(fuzz) }
}

func fuzz(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    _ = try? Interpolation.string(text).evaluate(context)
    _ = try? Interpolation("{{ " + text + " }}", default: "fallback").evaluate(context)
}
