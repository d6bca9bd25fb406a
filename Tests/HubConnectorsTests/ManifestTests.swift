import Foundation
import HubConnectors
import Testing

@Suite("Manifest loading")
struct ManifestTests {
    static let base = """
        version: 0.50.0
        definitions:
          requester:
            type: HttpRequester
            url_base: https://api.example.com
            authenticator:
              type: BearerAuthenticator
              api_token: "{{ config['token'] }}"
          stream:
            type: DeclarativeStream
            retriever:
              type: SimpleRetriever
              requester:
                $ref: "#/definitions/requester"
              record_selector:
                extractor:
                  field_path: ["data"]
        streams:
          - $ref: "#/definitions/stream"
            $parameters:
              name: users
              path: /users
          - $ref: "#/definitions/stream"
            name: teams
            retriever:
              type: SimpleRetriever
              requester:
                $ref: "#/definitions/requester"
                path: /teams
              record_selector:
                extractor:
                  field_path: ["data"]
              paginator:
                type: DefaultPaginator
                pagination_strategy:
                  type: CursorPagination
                  cursor_value: "{{ response.next }"
        """

    @Test("references and $parameters resolve; a bad expression names its manifest path")
    func errorsNameThePath() throws {
        do {
            _ = try DeclarativeSource(yaml: Self.base)
            Issue.record("a manifest with an unterminated expression loaded")
        } catch let problems as ManifestProblems {
            let text = problems.description
            #expect(text.contains("streams[1].retriever.paginator.pagination_strategy.cursor_value"), "\(text)")
        }
        let fixed = Self.base.replacingOccurrences(of: "{{ response.next }", with: "{{ response.next }}")
        let source = try DeclarativeSource(yaml: fixed)
        #expect(source.streamNames == ["users", "teams"])
    }

    @Test("an IncrementingCountCursor with a partition router is refused at load, as the CDK refuses it")
    func countCursorWithPartitionsRefused() throws {
        let manifest = """
            version: 6.0.0
            streams:
              - type: DeclarativeStream
                name: items
                incremental_sync:
                  type: IncrementingCountCursor
                  cursor_field: seq
                retriever:
                  type: SimpleRetriever
                  requester:
                    type: HttpRequester
                    url_base: https://api.example.com
                    path: /items
                  record_selector:
                    extractor:
                      field_path: ["data"]
                  partition_router:
                    type: ListPartitionRouter
                    values: ["a", "b"]
                    cursor_field: part
            """
        let error = #expect(throws: (any Error).self) { try DeclarativeSource(yaml: manifest) }
        #expect(String(describing: error).contains("cannot be used with a partition router"), "\(String(describing: error))")
        // Without the router, the same stream loads.
        let source = try DeclarativeSource(yaml: manifest.components(separatedBy: "      partition_router:")[0])
        #expect(source.streamNames == ["items"])
    }

    @Test("QueryProperties are checked at load: one per requester, a known limit type, a positive limit", arguments: [
        ("second: {type: QueryProperties, property_list: [b]}", "request_parameters.second: request_parameters may hold one QueryProperties"),
        ("", "property_limit_type: expected characters or property_count, found words"),
    ])
    func queryPropertiesChecked(extra: String, expected: String) throws {
        func manifest(limitType: String, limit: Int, extra: String) -> String {
            """
            version: 6.0.0
            streams:
              - type: DeclarativeStream
                name: items
                retriever:
                  type: SimpleRetriever
                  requester:
                    type: HttpRequester
                    url_base: https://api.example.com
                    path: /items
                    request_parameters:
                      properties:
                        type: QueryProperties
                        property_list: [a, b, c]
                        property_chunking: {type: PropertyChunking, property_limit_type: \(limitType), property_limit: \(limit)}
                      \(extra)
                  record_selector:
                    extractor:
                      field_path: ["data"]
            """
        }
        let error = #expect(throws: (any Error).self) {
            try DeclarativeSource(yaml: manifest(limitType: extra.isEmpty ? "words" : "property_count", limit: 2, extra: extra))
        }
        #expect(String(describing: error).contains(expected), "\(String(describing: error))")
        let zero = #expect(throws: (any Error).self) { try DeclarativeSource(yaml: manifest(limitType: "characters", limit: 0, extra: "")) }
        #expect(String(describing: zero).contains("property_limit: must be at least 1"), "\(String(describing: zero))")
        _ = try DeclarativeSource(yaml: manifest(limitType: "characters", limit: 10, extra: ""))
    }

    @Test("a CombinedExtractor is refused where the CDK would lose records: over a streaming decoder, or a union under OffsetIncrement")
    func combinedExtractorMisusesRefused() throws {
        func manifest(decoder: String, paginator: String?, mode: String) -> String {
            let text = """
            version: 6.0.0
            streams:
              - type: DeclarativeStream
                name: items
                retriever:
                  type: SimpleRetriever
                  requester:
                    type: HttpRequester
                    url_base: https://api.example.com
                    path: /items
                  decoder:
                    type: \(decoder)
                  paginator:
                    type: DefaultPaginator
                    pagination_strategy:
                      type: \(paginator ?? "")
                      page_size: 10
                    page_token_option:
                      type: RequestOption
                      inject_into: request_parameter
                      field_name: offset
                  record_selector:
                    extractor:
                      type: CombinedExtractor
                      mode: \(mode)
                      extractors:
                        - type: DpathExtractor
                          field_path: ["a"]
                        - type: DpathExtractor
                          field_path: ["b"]
            """
            guard paginator == nil else { return text }
            return text.components(separatedBy: "      paginator:")[0] + "      record_selector:" + text.components(separatedBy: "      record_selector:")[1]
        }
        let union = #expect(throws: (any Error).self) { try DeclarativeSource(yaml: manifest(decoder: "JsonDecoder", paginator: "OffsetIncrement", mode: "union")) }
        #expect(String(describing: union).contains("cannot be used with OffsetIncrement"), "\(String(describing: union))")
        let streaming = #expect(throws: (any Error).self) { try DeclarativeSource(yaml: manifest(decoder: "JsonlDecoder", paginator: nil, mode: "first_match")) }
        #expect(String(describing: streaming).contains("needs a JSON decoder"), "\(String(describing: streaming))")
        _ = try DeclarativeSource(yaml: manifest(decoder: "JsonDecoder", paginator: nil, mode: "union"))
        _ = try DeclarativeSource(yaml: manifest(decoder: "JsonDecoder", paginator: "OffsetIncrement", mode: "first_match"))
        _ = try DeclarativeSource(yaml: manifest(decoder: "JsonDecoder", paginator: "PageIncrement", mode: "union"))
    }

    @Test("every unsupported component is listed at once, at load time")
    func unsupportedComponentsListed() throws {
        let manifest = Self.base
            .replacingOccurrences(of: "{{ response.next }", with: "{{ response.next }}")
            .replacingOccurrences(of: "type: BearerAuthenticator", with: "type: OAuthAuthenticator")
            .replacingOccurrences(of: "type: CursorPagination", with: "type: CustomPaginationStrategy")
        do {
            _ = try DeclarativeSource(yaml: manifest)
            Issue.record("a manifest with unsupported components loaded")
        } catch let problems as ManifestProblems {
            let text = problems.description
            #expect(text.contains("OAuthAuthenticator"))
            #expect(text.contains("CustomPaginationStrategy"))
        }
    }

    @Test("a config that breaks the spec names every bad field")
    func configValidation() throws {
        let manifest = Self.base.replacingOccurrences(of: "{{ response.next }", with: "{{ response.next }}") + """

            spec:
              connection_specification:
                type: object
                required: [token, start_date]
                properties:
                  token: {type: string, airbyte_secret: true, pattern: "^sk_"}
                  start_date: {type: string}
                  page_size: {type: integer}
            """
        let source = try DeclarativeSource(yaml: manifest)
        var config = PyDict()
        config["page_size"] = .string("ten")
        config["token"] = .string("pk_live_do_not_echo")
        #expect {
            _ = try ConnectorRead(source: source, config: .dict(config))
        } throws: { error in
            let text = String(describing: error)
            return text.contains("config.token: the value does not match") && !text.contains("pk_live_do_not_echo")
                && text.contains("config.start_date: is required") && text.contains("config.page_size: expected integer")
        }
    }
}
