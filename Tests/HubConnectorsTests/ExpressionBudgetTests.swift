import HubConnectors
import Testing

/// What a hostile manifest (or the third-party data its expressions read) can make the
/// evaluator do: every case ends in an `ExpressionError` naming the limit it hit, never in a
/// trap, a stack overflow, a hang or gigabytes of memory. Each case here crashed, hung or
/// exhausted memory before `ExpressionLimits` (run one against the previous commit to see).
@Suite("Expression budget")
struct ExpressionBudgetTests {
    static let now = PyDateTime(year: 2024, month: 6, day: 1, hour: 12, offset: 0)

    func evaluate(_ source: String, _ variables: [String: PyValue] = [:]) throws -> PyValue {
        try Interpolation(source).evaluate(ExpressionContext(variables: variables, now: Self.now))
    }

    /// Throws an error whose message contains `fragment`.
    func refuses(_ source: String, _ fragment: String, _ variables: [String: PyValue] = [:],
                 sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let value = try evaluate(source, variables)
            Issue.record("\(source.prefix(80)) gave \(String(describing: value).prefix(80)) instead of an error", sourceLocation: sourceLocation)
        } catch let error as ExpressionError {
            #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("integers overflow into an error, not a trap or a wrong number; ** takes a handful of steps")
    func integerArithmetic() throws {
        refuses("{{ 9223372036854775807 + 1 }}", "integer overflow")
        refuses("{{ -9223372036854775807 - 2 }}", "integer overflow")
        refuses("{{ 4294967296 * 4294967296 }}", "integer overflow")
        refuses("{{ -(-9223372036854775807 - 1) }}", "integer overflow")
        refuses("{{ (-9223372036854775807 - 1) // -1 }}", "integer overflow")
        refuses("{{ (-9223372036854775807 - 1) | abs }}", "integer overflow")
        // Was a loop of 2^63 multiplications.
        refuses("{{ 2 ** 9223372036854775807 }}", "integer overflow")
        #expect(try evaluate("{{ 1 ** 9223372036854775807 }}") == .int(1))
        #expect(try evaluate("{{ (-1) ** 9223372036854775807 }}") == .int(-1))
        #expect(try evaluate("{{ 2 ** 62 }}") == .int(4_611_686_018_427_387_904))
        #expect(try evaluate("{{ 3 ** 4 // 2 }}") == .int(40))
        #expect(try evaluate("{{ (-9223372036854775807 - 1) % -1 }}") == .int(0))
        #expect(try evaluate("{{ 1e300 | int }}") == .int(0))
    }

    @Test("strings and lists stop at 1 MiB however they are built")
    func sizes() throws {
        refuses("{{ 'a' * 9223372036854775807 }}", "over the limit")
        refuses("{{ ['x'] * 9223372036854775807 }}", "over the limit")
        // Cheap to build (a million references), a terabyte to print.
        refuses("{{ ['x' * 1000000] * 1000000 }}", "over the limit")
        refuses("{{ ('a' * 1000000).replace('a', 'aaaa') }}", "over the limit")
        refuses("{{ ('a' * 1000000) | replace('a', 'aa') }}", "over the limit")
        refuses("{{ 'ab'.zfill(1000000000000) }}", "over the limit")
        refuses("{{ ('a' * 600000) ~ ('b' * 600000) }}", "over the limit")
        refuses("{{ ('a' * 600000) + ('b' * 600000) }}", "over the limit")
        refuses("{{ (['a' * 2000, 'b'] * 1000) | join(',') }}", "over the limit")
        refuses("{{ ('a' * 1000) | regex_replace('a', 'b' * 2000) }}", "over the limit")
        // Found by scripts/fuzz: an empty string passed the size check, then looped 10^15 times.
        #expect(try evaluate("{{ '' * 1000000000000000 }}") == .none)
        #expect(try evaluate("{{ [] * 1000000000000000 }}") == .list([]))
        // Within the limit, the same operations work.
        #expect(try evaluate("{{ ('ab' * 3).replace('b', 'c') }}") == .string("acacac"))
        #expect(try evaluate("{{ [1, 1.0, True, 2] | unique }}") == .list([.int(1), .int(2)]))
    }

    @Test("deep nesting is refused before it can overflow the stack")
    func nesting() {
        refuses("{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}", "tokens")
        refuses("{{ " + String(repeating: "(", count: 1_000) + "1" + String(repeating: ")", count: 1_000) + " }}", "nests")
        refuses("{{ " + String(repeating: "[", count: 1_000) + String(repeating: "]", count: 1_000) + " }}", "nests")
        refuses("{{ " + String(repeating: "-", count: 1_000) + "1 }}", "nests")
        refuses("{{ " + String(repeating: "not ", count: 1_000) + "1 }}", "nests")
        refuses("{{ 1" + String(repeating: " if 1 else 1", count: 1_000) + " }}", "nests")
        // A flat chain parses without recursion but evaluates by recursing once per operator.
        refuses("{{ 1" + String(repeating: " + 1", count: 1_500) + " }}", "deep")
        refuses("{{ x" + String(repeating: ".a", count: 1_500) + " }}", "deep")
    }

    @Test("a pattern that can backtrack exponentially is refused; ordinary ones run")
    func regularExpressions() throws {
        let subject = String(repeating: "a", count: 64) + "!"
        refuses("{{ '\(subject)' | regex_search('(a+)+$') }}", "exponential")
        refuses("{{ '\(subject)' | regex_search('(a|aa)*$') }}", "exponential")
        refuses("{{ '\(subject)' | regex_search('((a)*)*$') }}", "exponential")
        refuses("{{ '\(subject)' | regex_search('(a?){2,}') }}", "exponential")
        refuses("{{ 'aa' | regex_search('(a)\\\\1') }}", "back-reference")
        #expect(try evaluate("{{ '<https://api.example.com/items?page=2>; rel=\"next\"' | regex_search('<([^>]+)>') }}")
            == .string("https://api.example.com/items?page=2"))
        #expect(try evaluate("{{ 'v2.15.3' | regex_search('v(\\\\d+)\\\\.') }}") == .int(2))
        #expect(try evaluate("{{ 'a-b-c' | regex_replace('(?:-)+', '_') }}") == .string("a_b_c"))
    }

    @Test("dates from far outside years 1–9999 are errors, as in Python, not traps")
    func dates() throws {
        refuses("{{ now_utc() + duration('P99999999999Y') }}", "out of range")
        refuses("{{ now_utc() - duration('P999999999999D') }}", "out of range")
        refuses("{{ duration('P9999999999999D') }}", "ISO 8601 duration")
        refuses("{{ day_delta(1e300) }}", "out of range")
        refuses("{{ duration('PT1S') * 9223372036854775807 }}", "out of range")
        refuses("{{ timestamp(1e300) }}", "out of range")
        #expect(throws: ExpressionError.self) { try AirbyteDatetime.parse("99999999999999999", format: "%s") }
        #expect(throws: ExpressionError.self) { try AirbyteDatetime.parse("9223372036854775807", format: "%ms") }
        #expect(throws: ExpressionError.self) { try AirbyteDatetime.parse("1e300", format: "%s_as_float") }
        #expect(throws: ExpressionError.self) { try AirbyteDatetime.parse("-9223372036854775808", format: "%epoch_microseconds") }
        #expect(try AirbyteDatetime.parse("1717243200", format: "%s") == PyDateTime(year: 2024, month: 6, day: 1, hour: 12, offset: 0))
        #expect(try evaluate("{{ (now_utc() + duration('P1M')).strftime('%Y-%m-%d') }}") == .string("2024-07-01"))
    }
}

/// Errors end up in runs, connections' last errors and logs: they never quote config values.
@Suite("Expression errors")
struct ExpressionErrorTests {
    @Test("a missing key or a failed lookup names types, not the credentials beside it")
    func noValuesInErrors() throws {
        var config = PyDict()
        config["api_key"] = .string("sk_live_SECRET_MARKER")
        let context = ExpressionContext(variables: ["config": .dict(config)], now: ExpressionBudgetTests.now)
        for source in ["{{ config['missing'] + 1 }}", "{{ [config.api_key].index('x') }}", "{{ ['x'].index(config.api_key) }}"] {
            do {
                // The default repeats the template, so an undefined value's error surfaces.
                _ = try Interpolation(source, default: source).evaluate(context)
                Issue.record("\(source) evaluated")
            } catch let error as ExpressionError {
                #expect(!error.message.contains("SECRET_MARKER"), "\(error.message)")
            }
        }
    }
}
