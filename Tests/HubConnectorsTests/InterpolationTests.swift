import HubConnectors
import Testing

/// The evaluator against what Jinja plus the CDK's literal evaluation give in Python (each
/// expected value below is what CPython 3.11 with airbyte-cdk 7.39.1 returns).
@Suite("Interpolation")
struct InterpolationTests {
    static let now = PyDateTime(year: 2024, month: 6, day: 1, hour: 12, offset: 0)

    func evaluate(_ source: String, _ variables: [String: PyValue] = [:], default fallback: String? = nil) throws -> PyValue {
        var context = ExpressionContext(variables: variables, now: Self.now)
        if context["config"] == nil { context["config"] = Self.config }
        return try Interpolation.string(source, default: fallback).evaluate(context)
    }

    static let config: PyValue = {
        var dict = PyDict()
        dict["start_date"] = .string("2024-01-01T00:00:00Z")
        dict["page_size"] = .string("50")
        dict["domain"] = .string("dom123")
        dict["count"] = .int(3)
        dict["tags"] = .list([.string("a"), .string("b")])
        return .dict(dict)
    }()

    @Test("rendered text goes through literal_eval: numbers, None, lists; dates and words stay text")
    func literalEvaluation() throws {
        #expect(try evaluate("{{ config['page_size'] }}") == .int(50))
        #expect(try evaluate("{{ config.page_size }}") == .int(50))
        #expect(try evaluate("{{ config['start_date'] }}") == .string("2024-01-01T00:00:00Z"))
        #expect(try evaluate("{{ config.get('missing') }}") == .none)
        #expect(try evaluate("{{ config['tags'] }}") == .list([.string("a"), .string("b")]))
        #expect(try evaluate("2015-07-06") == .string("2015-07-06"))
        #expect(try evaluate("007") == .string("007"))
        #expect(try evaluate("0x10") == .int(16))
        #expect(try evaluate("1e3") == .float(1000))
        #expect(try evaluate("True") == .bool(true))
        #expect(try evaluate("/activity/{{ config['domain'] }}") == .string("/activity/dom123"))
    }

    @Test("an undefined value falls back to the default; the string itself when none is given")
    func undefinedFallsBack() throws {
        #expect(try evaluate("{{ config['nope'] }}", default: "7") == .int(7))
        #expect(try evaluate("{{ config['nope']['deeper'] }}", default: "fallback") == .string("fallback"))
        #expect(try evaluate("{{ config['nope'] }}") == .string(""))
    }

    @Test("operators, tests, filters and ternaries behave as in Jinja")
    func operators() throws {
        #expect(try evaluate("{{ config['count'] * 2 + 1 }}") == .int(7))
        #expect(try evaluate("{{ 7 / 2 }}") == .float(3.5))
        #expect(try evaluate("{{ 7 // 2 }}") == .int(3))
        #expect(try evaluate("{{ -7 % 3 }}") == .int(2))
        #expect(try evaluate("{{ 'a' ~ 1 ~ none }}") == .string("a1None"))
        #expect(try evaluate("{{ 'yes' if config['count'] > 2 else 'no' }}") == .string("yes"))
        #expect(try evaluate("{{ 'b' in config['tags'] and not ('z' in config['tags']) }}") == .bool(true))
        #expect(try evaluate("{{ config['nope'] is defined }}") == .bool(false))
        #expect(try evaluate("{{ config['count'] is not none }}") == .bool(true))
        #expect(try evaluate("{{ config['tags'] | join(',') }}") == .string("a,b"))
        #expect(try evaluate("{{ '42' | int + 1 }}") == .int(43))
        #expect(try evaluate("{{ config['tags'] | length }}") == .int(2))
        #expect(try evaluate("{{ config['nope'] | default('x') }}") == .string("x"))
        #expect(try evaluate("{{ ','.join(config['tags']) }}") == .string("a,b"))
        #expect(try evaluate("{{ 'report.csv'.endswith('.csv') }}") == .bool(true))
        #expect(try evaluate("{{ config['tags'][-1] }}") == .string("b"))
        #expect(try evaluate("{{ 'abcdef'[1:3] }}") == .string("bc"))
    }

    @Test("the string filter wraps non-strings in triple quotes so they stay strings")
    func stringFilter() throws {
        #expect(try evaluate("{{ config['count'] | string }}") == .string("3"))
        #expect(try evaluate("{{ config['tags'] | string }}") == .string(#"["a", "b"]"#))
    }

    @Test("date macros read the injected clock and format like Python")
    func dateMacros() throws {
        #expect(try evaluate("{{ now_utc().strftime('%Y-%m-%dT%H:%M:%SZ') }}") == .string("2024-06-01T12:00:00Z"))
        #expect(try evaluate("{{ now_utc().strftime('%s') }}") == .int(1_717_243_200))
        #expect(try evaluate("{{ today_utc() }}") == .string("2024-06-01"))
        #expect(try evaluate("{{ now_utc() }}") == .string("2024-06-01 12:00:00+00:00"))
        #expect(try evaluate("{{ day_delta(-1, '%Y-%m-%d') }}") == .string("2024-05-31"))
        #expect(try evaluate("{{ (now_utc() - duration('P1D')).strftime('%Y-%m-%d') }}") == .string("2024-05-31"))
        #expect(try evaluate("{{ format_datetime(config['start_date'], '%Y/%m/%d') }}") == .string("2024/01/01"))
        #expect(try evaluate("{{ format_datetime(1717243200, '%Y-%m-%d') }}") == .string("2024-06-01"))
        // Python's own strptime has no %s: the CDK fails here too.
        #expect(throws: (any Error).self) { try evaluate("{{ format_datetime('1717243200', '%Y-%m-%d', '%s') }}") }
        #expect(try evaluate("{{ timestamp('2024-06-01T12:00:00Z') }}") == .float(1_717_243_200))
        #expect(try evaluate("{{ max(1, 5, 3) }}") == .int(5))
        #expect(try evaluate("{{ min(config['tags']) }}") == .string("a"))
    }

    @Test("Airbyte's datetime formats parse and format %s, %ms and %_ms")
    func airbyteFormats() throws {
        let instant = try AirbyteDatetime.parse("2024-06-01T12:00:00.123456+02:00", format: "%Y-%m-%dT%H:%M:%S.%f%z")
        #expect(instant.epochMicros == 1_717_236_000_123_456)
        #expect(AirbyteDatetime.format(instant, format: "%s") == "1717236000")
        #expect(AirbyteDatetime.format(instant, format: "%ms") == "1717236000123")
        #expect(AirbyteDatetime.format(instant.converted(toOffset: 0), format: "%Y-%m-%dT%H:%M:%S.%_msZ") == "2024-06-01T10:00:00.123Z")
        #expect(try AirbyteDatetime.parse("1717236000123", format: "%ms").epochMicros == 1_717_236_000_123_000)
        #expect(throws: ExpressionError.self) { try AirbyteDatetime.parse("2024-06-01", format: "%Y-%m-%dT%H") }
        #expect(try AirbyteDatetime.parse("01 Jun 2024", format: "%d %b %Y").epochMicros == 1_717_200_000_000_000)
    }

    @Test("statement tags render as Jinja renders them: if/elif/else, for with loop and else, set, the append idiom")
    func statements() throws {
        var config = Self.config
        if case .dict(var dict) = config { dict["region"] = .string("eu"); config = .dict(dict) }
        let vars = ["config": config]
        #expect(try evaluate("{% if config['region'] == 'eu' %}eu-1{% elif config['region'] == 'us' %}us-1{% else %}other{% endif %}", vars)
                == .string("eu-1"))
        // Nothing rendered and no default: None, as `JinjaInterpolation.eval` without a default.
        let empty = try Interpolation("{% if config['count'] > 5 %}big{% endif %}").evaluate(ExpressionContext(variables: vars, now: Self.now))
        #expect(empty == .none)
        #expect(try evaluate("{% set ids = [] %}{% for t in config['tags'] %}{% set _ = ids.append(t | upper) %}{% endfor %}{{ ids | join(',') }}",
                             vars) == .string("A,B"))
        #expect(try evaluate("{% for t in config['tags'] %}{{ loop.index }}:{{ t }}{% if not loop.last %},{% endif %}{% endfor %}", vars)
                == .string("1:a,2:b"))
        #expect(try evaluate("{% for t in [] %}x{% else %}empty{% endfor %}", vars) == .string("empty"))
        // A loop's body has its own scope: the outer n is untouched.
        #expect(try evaluate("{% set n = 1 %}{% for t in config['tags'] %}{% set n = n + 1 %}{% endfor %}{{ n }}", vars) == .int(1))
        #expect(try evaluate("{% set a, b = config['tags'] %}{{ b }}{{ a }}", vars) == .string("ba"))
        #expect(try evaluate("{%- if true -%}\n  yes\n{%- endif %}", vars) == .string("yes"))
        #expect(try evaluate("{% for k, v in {'x': 1}.items() %}{{ k }}={{ v }}{% endfor %}", vars) == .string("x=1"))
        #expect(try evaluate("{% set parts = config.get('api_url', 'gitlab.com').split('://') %}{{ parts[-1] }}", vars) == .string("gitlab.com"))
        #expect(try evaluate("[{% for t in config['tags'] %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %}]", vars)
                == .list([.string("a"), .string("b")]))
    }

    @Test("a template's loops are bounded in total, and malformed blocks name what is wrong")
    func statementLimits() throws {
        let nested = "{% for a in 'x' * 200 %}{% for b in 'y' * 200 %}z{% endfor %}{% endfor %}"
        let error = #expect(throws: ExpressionError.self) { try evaluate(nested) }
        #expect(error.map { "\($0)" }?.contains("more than 10000 times") == true, "\(String(describing: error))")
        // A loop over a large list that copies it each round would take minutes: the loops'
        // time budget ends it.
        let copying = "{% set a = [0] * 25000 %}{% set b = a + a + a + a %}{% set c = b + b + b + b + b + b + b + b + b + b %}"
            + "{% for i in c %}{% set d = c + [1] %}{% endfor %}{{ 1 }}"
        let slow = #expect(throws: ExpressionError.self) { try evaluate(copying) }
        #expect(slow.map { "\($0)" }?.contains("ran longer than") == true, "\(String(describing: slow))")
        let deep = String(repeating: "{% if true %}", count: 100) + "x" + String(repeating: "{% endif %}", count: 100)
        let nesting = #expect(throws: ExpressionError.self) { try Template(deep) }
        #expect(nesting.map { "\($0)" }?.contains("nested more than 64 deep") == true)
        #expect(throws: ExpressionError.self) { try Template("{% if true %}a") }
        for nameless in ["{% set = 1 %}", "{% set , = 1 %}", "{% set a, = [1] %}", "{% for , in x %}{% endfor %}", "{% for in x %}{% endfor %}"] {
            #expect(throws: ExpressionError.self, "\(nameless)") { try Template(nameless) }
        }
        #expect(throws: ExpressionError.self) { try Template("a{% endif %}") }
        #expect(throws: ExpressionError.self) { try Template("{% for x in y if x %}{% endfor %}") }
        #expect(throws: ExpressionError.self) { try Template("{% macro m() %}{% endmacro %}") }
        #expect(throws: ExpressionError.self) { try Template("{% set x %}block{% endset %}") }
        #expect(throws: ExpressionError.self) { try Template("{% if true %}a{% else %}b{% else %}c{% endif %}") }
    }

    @Test("statement tags and unknown names are refused with a clear error")
    func refusals() throws {
        #expect(throws: ExpressionError.self) { try evaluate("{{ secrets }}") }
        #expect(throws: ExpressionError.self) { try evaluate("{{ config['count'] | no_such_filter }}") }
        // The sandbox exposes no Python internals: an unsafe attribute is undefined and renders empty.
        #expect(try evaluate("{{ config.__class__ }}") == .string(""))
    }
}
