import Foundation
import HubConnectors
import HubCore
import Synchronization
import Testing

/// A hostile or broken third party answers with waits no process can honour: `Retry-After:
/// 1e300`, `inf`, `nan`, negative numbers. Before `RetryDelay`, converting them trapped and
/// killed the worker (and `tributary connectors read`) on every retry of the job.
@Suite("Hostile responses")
struct HostileResponseTests {
    /// Answers 429 with the given `Retry-After` (or a custom header) once, then a page of data.
    final class ThrottlingAPI: HTTPTransport {
        let headers: [(String, String)]
        let calls = Mutex(0)

        init(headers: [(String, String)]) { self.headers = headers }

        func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
            let call = calls.withLock { $0 += 1; return $0 }
            if call == 1 { return HTTPResponseData(status: 429, headers: headers, body: Array("{}".utf8)) }
            return HTTPResponseData(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"items": [{"id": 1}]}"#.utf8))
        }
    }

    static func manifest(backoff: String = "") -> String {
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
                url_base: https://api.example.com
                path: /items
        \(backoff)
              record_selector:
                type: RecordSelector
                extractor: {type: DpathExtractor, field_path: [items]}
        """
    }

    /// Reads the stream, returning the waits the engine asked for (nothing really sleeps).
    static func waits(_ manifest: String, api: ThrottlingAPI, handoff: Bool = false) async throws -> [Double] {
        let waits = Mutex<[Double]>([])
        let environment = EngineEnvironment(sleep: { seconds in waits.withLock { $0.append(seconds) } }, rateLimitHandoff: handoff)
        let reader = StreamReader(source: try DeclarativeSource(yaml: manifest), config: .dict(PyDict()), transport: api,
                                  environment: environment)
        try await reader.read(stream: "items", state: nil) { _ in }
        return waits.withLock { $0 }
    }

    @Test("Retry-After: 1e300, inf, nan and negatives become finite waits within the cap", arguments: ["1e300", "inf", "-inf", "nan", "-5", "9223372036854775808"])
    func retryAfterIsBounded(_ header: String) async throws {
        let waits = try await Self.waits(Self.manifest(), api: ThrottlingAPI(headers: [("Retry-After", header)]))
        #expect(waits.count == 1)
        for wait in waits { #expect(wait.isFinite && wait >= 0 && wait <= RetryDelay.maxSeconds, "\(header) → \(wait)") }
    }

    @Test("a header-driven backoff and an exponential factor from the manifest are bounded too")
    func manifestBackoffsAreBounded() async throws {
        let fromHeader = """
                    error_handler:
                      type: DefaultErrorHandler
                      backoff_strategies:
                        - {type: WaitTimeFromHeader, header: X-Wait}
            """
        let headerWaits = try await Self.waits(Self.manifest(backoff: fromHeader), api: ThrottlingAPI(headers: [("X-Wait", "1e308")]))
        #expect(headerWaits == [RetryDelay.maxSeconds])

        let exponential = """
                    error_handler:
                      type: DefaultErrorHandler
                      backoff_strategies:
                        - {type: ExponentialBackoffStrategy, factor: 1e300}
            """
        let exponentialWaits = try await Self.waits(Self.manifest(backoff: exponential), api: ThrottlingAPI(headers: []))
        #expect(exponentialWaits == [RetryDelay.maxSeconds])
    }

    @Test("a rate limit handed to the queue carries a bounded wait, and its description does not trap")
    func handedOffRateLimit() async throws {
        do {
            _ = try await Self.waits(Self.manifest(), api: ThrottlingAPI(headers: [("Retry-After", "inf")]), handoff: true)
            Issue.record("a handed-off 429 should end the read")
        } catch let limited as RateLimited {
            #expect(limited.retryAfter == RetryDelay.maxSeconds)
            #expect(limited.description.hasSuffix("retry after 3600 s"), "\(limited.description)")
            #expect(RetryDelay.milliseconds(.infinity) == 3_600_000)
        }
    }

    @Test("max_retries outside 0...100 is refused at load, naming the field")
    func maxRetriesIsBounded() throws {
        let handler = """
                    error_handler:
                      type: DefaultErrorHandler
                      max_retries: 1000000000
            """
        do {
            _ = try DeclarativeSource(yaml: Self.manifest(backoff: handler))
            Issue.record("a billion retries should be refused")
        } catch {
            #expect("\(error)".contains("error_handler.max_retries: must be from 0 to 100"), "\(error)")
        }
    }

    @Test("a backoff's header pattern that could backtrack without end is refused at registration")
    func backtrackingHeaderPatternIsRefused() throws {
        let backoff = """
                    error_handler:
                      type: DefaultErrorHandler
                      backoff_strategies:
                        - {type: WaitTimeFromHeader, header: Retry-After, regex: "(a+)+$"}
            """
        do {
            _ = try DeclarativeSource(yaml: Self.manifest(backoff: backoff))
            Issue.record("the pattern was accepted")
        } catch let problems as ManifestProblems {
            #expect(problems.description.contains("backoff_strategies[0].regex"), "\(problems)")
        } catch let error as ManifestError {
            #expect(error.description.contains("backoff_strategies[0].regex"), "\(error)")
        }
    }
}
