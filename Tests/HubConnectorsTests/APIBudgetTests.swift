import Foundation
import HubConnectors
import HubCore
import Synchronization
import Testing

/// `api_budget`: the engine keeps within the rates a manifest declares, and within what the
/// API says is left, by waiting before it sends.
@Suite("API budget")
struct APIBudgetTests {
    /// Pages of one record each, `pages` long; answers each request with `headers` and notes
    /// when it arrived.
    final class PagedAPI: HTTPTransport {
        let pages: Int
        let headers: @Sendable (Int) -> [(String, String)]
        let status: @Sendable (Int) -> Int
        let arrivals = Mutex<[(path: String, at: ContinuousClock.Instant)]>([])

        init(pages: Int, status: @escaping @Sendable (Int) -> Int = { _ in 200 }, headers: @escaping @Sendable (Int) -> [(String, String)] = { _ in [] }) {
            self.pages = pages
            self.status = status
            self.headers = headers
        }

        func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
            let url = URLComponents(string: request.url)!
            let call = arrivals.withLock { $0.append((url.path, .now)); return $0.count }
            let page = Int(url.queryItems?.first { $0.name == "page" }?.value ?? "1") ?? 1
            let next = page < pages ? "\(page + 1)" : "null"
            return HTTPResponseData(status: status(call), headers: [("Content-Type", "application/json")] + headers(call),
                                    body: Array(#"{"items": [{"id": \#(page)}], "next": \#(next)}"#.utf8))
        }

        var paths: [String] { arrivals.withLock { $0.map(\.path) } }
        func gap(_ from: Int, _ to: Int) -> Duration { arrivals.withLock { $0[to].at - $0[from].at } }
    }

    static func manifest(path: String = "/items", budget: String) -> String {
        """
        version: 6.0.0
        type: DeclarativeSource
        streams:
          - type: DeclarativeStream
            name: items
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester:
                type: HttpRequester
                url_base: https://api.example.com/v1
                path: \(path)
                error_handler:
                  type: DefaultErrorHandler
                  backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0}]
              record_selector:
                type: RecordSelector
                extractor: {type: DpathExtractor, field_path: [items]}
              paginator:
                type: DefaultPaginator
                pagination_strategy: {type: CursorPagination, cursor_value: "{{ response.next }}", stop_condition: "{{ not response.next }}"}
                page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        api_budget:
        \(budget)
        """
    }

    /// The waits the engine asked for.
    final class SleepLog: Sendable {
        let values = Mutex<[Double]>([])
        var all: [Double] { values.withLock { $0 } }
    }

    /// Reads the stream with real sleeps (each logged), returning the records read.
    static func read(_ manifest: String, _ api: PagedAPI, sleeps: SleepLog? = nil,
                     sleep: (@Sendable (Double) async throws -> Void)? = nil) async throws -> Int {
        let environment = EngineEnvironment(sleep: sleep ?? { seconds in
            sleeps?.values.withLock { $0.append(seconds) }
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        })
        let config = try PyValue.parseJSON(Array(#"{"limit": 2}"#.utf8))
        let reader = StreamReader(source: try DeclarativeSource(yaml: manifest), config: config, transport: api, environment: environment)
        let records = Mutex(0)
        try await reader.read(stream: "items", state: nil) { event in
            switch event {
            case .record: records.withLock { $0 += 1 }
            case .records(_, let data): records.withLock { $0 += data.count }
            default: break
            }
        }
        return records.withLock { $0 }
    }

    @Test("a moving window of 2 calls a second spaces the third call a second after the first")
    func movingWindowWaits() async throws {
        let api = PagedAPI(pages: 4)
        let budget = """
              type: HTTPAPIBudget
              policies:
                - type: MovingWindowCallRatePolicy
                  rates: [{limit: "{{ config['limit'] }}", interval: PT1S}]
                  matchers: []
            """
        let sleeps = SleepLog()
        #expect(try await Self.read(Self.manifest(budget: budget), api, sleeps: sleeps) == 4)
        #expect(api.paths.count == 4)
        #expect(api.gap(0, 1) < .milliseconds(500), "the first two calls fit the window")
        #expect(api.gap(0, 2) >= .milliseconds(950), "the third waits for the first to leave the window: \(api.gap(0, 2))")
        #expect(!sleeps.all.isEmpty)
    }

    @Test("a policy applies only to the requests its matchers match")
    func matchersScopeThePolicy() async throws {
        let budget = """
              type: HTTPAPIBudget
              policies:
                - type: MovingWindowCallRatePolicy
                  rates: [{limit: 1, interval: PT1H}]
                  matchers:
                    - {type: HttpRequestRegexMatcher, method: GET, url_path_pattern: "^/v1/files($|/)"}
            """
        // Another path: no wait however many calls.
        let other = PagedAPI(pages: 5)
        let asked = SleepLog()
        let refuse: @Sendable (Double) async throws -> Void = { seconds in
            asked.values.withLock { $0.append(seconds) }
            throw CancellationError()
        }
        #expect(try await Self.read(Self.manifest(budget: budget), other, sleep: refuse) == 5)
        #expect(asked.all.isEmpty)
        // The matched path: the second call would wait the hour out (bounded, and cancellable).
        let files = PagedAPI(pages: 3)
        do {
            _ = try await Self.read(Self.manifest(path: "/files", budget: budget), files, sleep: refuse)
            Issue.record("the second call to /files did not wait")
        } catch is CancellationError {}
        #expect(files.paths == ["/v1/files"])
        let wait = try #require(asked.all.first)
        #expect(wait > 3_500 && wait <= RetryDelay.maxSeconds, "asked to wait \(wait) s")
    }

    @Test("ratelimit-remaining: 0 and a 429 stop the calls until the window or the reset frees them")
    func theAPIsCountTightensTheBudget() async throws {
        // A fixed window of 100 an hour, but the API says none are left until a second from now.
        let fixed = """
              type: HTTPAPIBudget
              ratelimit_remaining_header: X-Left
              ratelimit_reset_header: X-Reset
              policies:
                - type: FixedWindowCallRatePolicy
                  period: PT1H
                  call_limit: 100
                  matchers: []
            """
        let api = PagedAPI(pages: 2, headers: { call in
            call == 1 ? [("X-Left", "0"), ("X-Reset", "\(Int(Date().timeIntervalSince1970) + 2)")] : []
        })
        #expect(try await Self.read(Self.manifest(budget: fixed), api) == 2)
        #expect(api.gap(0, 1) >= .milliseconds(900), "the second call waited for the reset: \(api.gap(0, 1))")

        // A 429 fills a moving window of 3 a second: the retry waits for the window.
        let moving = """
              type: HTTPAPIBudget
              policies:
                - type: MovingWindowCallRatePolicy
                  rates: [{limit: 3, interval: PT1S}]
                  matchers: []
            """
        let throttled = PagedAPI(pages: 1, status: { $0 == 1 ? 429 : 200 })
        #expect(try await Self.read(Self.manifest(budget: moving), throttled) == 1)
        #expect(throttled.paths.count == 2)
        #expect(throttled.gap(0, 1) >= .milliseconds(950), "the retry after a 429 waited for the window: \(throttled.gap(0, 1))")
    }

    @Test("a budget the engine cannot keep is refused with its place in the manifest")
    func badBudgetsAreNamed() async throws {
        let noRates = """
              type: HTTPAPIBudget
              policies:
                - {type: MovingWindowCallRatePolicy, rates: [], matchers: []}
            """
        #expect(throws: ManifestProblems.self) { try DeclarativeSource(yaml: Self.manifest(budget: noRates)) }
        let hostileRegex = """
              type: HTTPAPIBudget
              policies:
                - type: MovingWindowCallRatePolicy
                  rates: [{limit: 1, interval: PT1S}]
                  matchers: [{url_path_pattern: "(a+)+$"}]
            """
        do {
            _ = try DeclarativeSource(yaml: Self.manifest(budget: hostileRegex))
            Issue.record("a backtracking pattern was accepted")
        } catch let problems as ManifestProblems {
            #expect(problems.description.contains("api_budget.policies[0].matchers[0].url_path_pattern"), "\(problems)")
        }
        // A weight above the lowest limit fails the stream, naming the policy.
        let heavy = """
              type: HTTPAPIBudget
              policies:
                - type: MovingWindowCallRatePolicy
                  rates: [{limit: 2, interval: PT1S}]
                  matchers: [{method: GET, weight: 5}]
            """
        do {
            _ = try await Self.read(Self.manifest(budget: heavy), PagedAPI(pages: 1))
            Issue.record("a weight over the limit was accepted")
        } catch {
            #expect("\(error)".contains("api_budget.policies[0]"), "\(error)")
        }
        // A limit from the config that is no number.
        let config = """
              type: HTTPAPIBudget
              policies:
                - type: MovingWindowCallRatePolicy
                  rates: [{limit: "{{ config['missing'] }}", interval: PT1S}]
                  matchers: []
            """
        do {
            _ = try await Self.read(Self.manifest(budget: config), PagedAPI(pages: 1))
            Issue.record("a limit that is no number was accepted")
        } catch {
            #expect("\(error)".contains("must be a whole number"), "\(error)")
        }
    }
}
