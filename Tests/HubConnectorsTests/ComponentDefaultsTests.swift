import Foundation
import HubConnectors
import HubCore
import Synchronization
import Testing

/// Properties a manifest leaves out read as the component schema's defaults
/// (`scripts/component-defaults`), with the CDK's reading of them.
@Suite("Component schema defaults")
struct ComponentDefaultsTests {
    /// Answers the n-th request with the n-th body (the last one from then on) and remembers
    /// the URLs asked for.
    final class PagesAPI: HTTPTransport {
        let bodies: [String]
        let urls = Mutex<[String]>([])

        init(bodies: [String]) { self.bodies = bodies }

        func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
            let number = urls.withLock { $0.append(request.url); return $0.count }
            let body = bodies[min(number, bodies.count) - 1]
            return HTTPResponseData(status: 200, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
        }
    }

    /// `requester` goes under the requester (at its indentation), `extra` under the retriever.
    static func manifest(retriever extra: String, stream: String = "", requester: String = "") -> String {
        """
        version: 6.0.0
        type: DeclarativeSource
        streams:
          - type: DeclarativeStream
            name: items
            primary_key: [id]
        \(stream)
            retriever:
              type: SimpleRetriever
              requester:
                type: HttpRequester
                url_base: https://api.example.com
                path: /items
        \(requester)
              record_selector:
                type: RecordSelector
                extractor:
                  type: DpathExtractor
                  field_path: [data]
        \(extra)
        """
    }

    static func read(_ manifest: String, bodies: [String]) async throws -> (records: [JSONValue], urls: [String]) {
        let source = try DeclarativeSource(yaml: manifest)
        let api = PagesAPI(bodies: bodies)
        let reader = StreamReader(source: source, config: .dict(PyDict()), transport: api,
                                  environment: EngineEnvironment(sleep: { _ in }))
        let records = Mutex<[JSONValue]>([])
        try await reader.read(stream: "items", state: nil) { event in
            if case .records(_, let data) = event { records.withLock { $0 += data.map(\.json) } }
        }
        return (records.withLock { $0 }, api.urls.withLock { $0 })
    }

    @Test("a RemoveFields without a condition removes the field: the schema's empty condition means none")
    func removeFieldsDefaultCondition() async throws {
        let (records, _) = try await Self.read(Self.manifest(retriever: "", stream: """
                transformations:
                  - type: RemoveFields
                    field_pointers: [[secret]]
            """), bodies: [#"{"data": [{"id": 1, "secret": "x"}, {"id": 2}]}"#])
        #expect(records == [.object(["id": .number(1)]), .object(["id": .number(2)])])
    }

    @Test("an AddFields condition sees the new value as `value`, and an empty one adds always")
    func addFieldsCondition() async throws {
        let (records, _) = try await Self.read(Self.manifest(retriever: "", stream: """
                transformations:
                  - type: AddFields
                    fields:
                      - {path: [big], value: "{{ record['n'] * 10 }}"}
                    condition: "{{ value > 15 }}"
                  - type: AddFields
                    fields:
                      - {path: [seen], value: "yes"}
            """), bodies: [#"{"data": [{"id": 1, "n": 1}, {"id": 2, "n": 2}]}"#])
        #expect(records == [
            .object(["id": .number(1), "n": .number(1), "seen": .string("yes")]),
            .object(["id": .number(2), "n": .number(2), "big": .number(20), "seen": .string("yes")]),
        ])
    }

    @Test("a PageIncrement without start_from_page or inject_on_first_request counts from 0, first page bare")
    func pageIncrementDefaults() async throws {
        let (records, urls) = try await Self.read(Self.manifest(retriever: """
                  paginator:
                    type: DefaultPaginator
                    page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
                    pagination_strategy:
                      type: PageIncrement
                      page_size: 2
            """), bodies: [#"{"data": [{"id": 1}, {"id": 2}]}"#, #"{"data": [{"id": 3}]}"#])
        #expect(records.count == 3)
        #expect(urls == ["https://api.example.com/items", "https://api.example.com/items?page=1"])
    }
}

/// The protocol lines `connectors read` prints: strings escaped as JSON, UTF-8 kept as is.
@Suite("Protocol output")
struct ProtocolOutputTests {
    @Test("a record's strings are escaped exactly: quotes, backslashes, control characters; non-ASCII stays UTF-8")
    func recordEscaping() async throws {
        let body = #"{"data": [{"id": 1, "note": "say \"hi\"\\ \n\t\r\u0001 é ✓ 😀", "k\"ey": 2}]}"#
        let source = try DeclarativeSource(yaml: ComponentDefaultsTests.manifest(retriever: ""))
        let read = try ConnectorRead(source: source, config: .dict(PyDict()))
        let lines = Mutex<[String]>([])
        _ = try await read.run(transport: ComponentDefaultsTests.PagesAPI(bodies: [body]), environment: EngineEnvironment(sleep: { _ in })) { text in
            lines.withLock { $0 += text.split(separator: "\n").map(String.init) }
        }
        let record = try #require(lines.withLock { $0 }.first { $0.hasPrefix(#"{"type":"RECORD""#) })
        #expect(record.contains(#""data":{"id":1,"note":"say \"hi\"\\ \n\t\r\u0001 é ✓ 😀","k\"ey":2}"#), "\(record)")
    }
}
