import HubConnectors
import Testing

/// Which config fields decide where requests go: the fields a stored credential never follows
/// a change of without being sent again.
@Suite("Request destinations")
struct RequestDestinationsTests {
    static func destinations(requester: String, extra: String = "") throws -> RequestDestinations {
        let yaml = """
            version: 6.0.0
            type: DeclarativeSource
            \(extra)
            streams:
              - type: DeclarativeStream
                name: items
                primary_key: [id]
                retriever:
                  type: SimpleRetriever
                  record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
                  requester:
            \(requester)
            """
        return RequestDestinations(manifest: try DeclarativeSource(yaml: yaml).resolved)
    }

    @Test func theFieldsAURLReadsCountAndNoOthers() throws {
        let scanned = try Self.destinations(requester: """
                        type: HttpRequester
                        url_base: "https://{{ config.get('subdomain', 'api') }}.example.com/{{ config[\\"region\\"] }}"
                        path: "/v1/{{ config.account }}/items"
                        request_parameters: {since: "{{ config['start_date'] }}"}
                        request_headers: {X-Token: "{{ config['api_key'] }}"}
                        authenticator:
                          type: OAuthAuthenticator
                          token_refresh_endpoint: "{{ config['token_url'] }}"
                          client_id: "{{ config['client_id'] }}"
                          client_secret: "{{ config['client_secret'] }}"
                          refresh_token: "{{ config['refresh_token'] }}"
            """)
        #expect(scanned == .fields(["subdomain", "region", "account", "token_url"]))
        #expect(scanned.affected(by: ["start_date", "api_key"]).isEmpty)
        #expect(scanned.affected(by: ["start_date", "subdomain"]) == ["subdomain"])
    }

    @Test func aURLThatReadsTheConfigIndirectlyMakesEveryConfigReadCount() throws {
        // The path takes a partition's value; the partitions are the config's list: a change
        // of `ids` (or of anything else the manifest reads) moves requests.
        let scanned = try Self.destinations(requester: """
                        type: HttpRequester
                        url_base: "https://api.example.com"
                        path: "{{ stream_partition.id }}"
                        request_parameters: {since: "{{ config['start_date'] }}"}
                  partition_router:
                    type: ListPartitionRouter
                    cursor_field: id
                    values: "{{ config['ids'] }}"
            """)
        #expect(scanned == .fields(["start_date", "ids"]))
    }

    @Test func aURLThatReadsTheConfigByAComputedKeyMakesAnyChangeCount() throws {
        let scanned = try Self.destinations(requester: """
                        type: HttpRequester
                        url_base: "https://{{ config[config['which']] }}.example.com"
                        path: /items
            """)
        #expect(scanned == .anyField)
        #expect(scanned.affected(by: ["start_date"]) == ["start_date"])
        let whole = try Self.destinations(requester: """
                        type: HttpRequester
                        url_base: "https://api.example.com"
                        path: "/{{ config | tojson }}"
            """)
        #expect(whole == .anyField)
        for tricky in ["{{ config.items() | list }}", "{{ config.get('ho' ~ 'st') }}", "{{ config.values() }}"] {
            let scanned = try Self.destinations(requester: """
                            type: HttpRequester
                            url_base: "https://api.example.com"
                            path: "/\(tricky)"
                """)
            #expect(scanned == .anyField, "\(tricky)")
        }
    }

    /// A migration can compute a URL's field from any other (`base_url` from `subdomain`), and a
    /// legacy session login URL is joined to the base as text: both move requests.
    @Test func configMigrationsAndLegacyLoginURLsCount() throws {
        let spec = """
            spec:
              type: Spec
              connection_specification: {type: object, properties: {}}
              config_normalization_rules:
                type: ConfigNormalizationRules
                config_migrations:
                  - type: ConfigMigration
                    transformations:
                      - type: ConfigAddFields
                        fields:
                          - type: AddedFieldDefinition
                            path: [base_url]
                            value: "https://{{ config['subdomain'] }}.example.com"
            """
        let requester = """
                        type: HttpRequester
                        url_base: "{{ config['base_url'] }}"
                        path: /items
            """
        #expect(try Self.destinations(requester: requester, extra: spec) == .anyField)
        #expect(try Self.destinations(requester: requester) == .fields(["base_url"]))
        let legacy = try Self.destinations(requester: """
                        type: HttpRequester
                        url_base: "https://api.example.com/"
                        path: items
                        authenticator:
                          type: LegacySessionTokenAuthenticator
                          header: X-Session
                          login_url: "{{ config['login_path'] }}"
                          session_token_response_key: token
                          username: "{{ config['username'] }}"
                          password: "{{ config['password'] }}"
                          validate_session_url: "{{ config['check_path'] }}"
            """)
        #expect(legacy == .fields(["login_path", "check_path"]))
    }

    @Test func aNextPageCursorAndAWindowCountToo() throws {
        let scanned = try Self.destinations(requester: """
                        type: HttpRequester
                        url_base: "https://api.example.com"
                        path: "/items/{{ stream_interval.start_time }}"
                  paginator:
                    type: DefaultPaginator
                    pagination_strategy: {type: CursorPagination, cursor_value: "{{ config['next_host'] }}/page"}
                    page_token_option: {type: RequestPath}
            """)
        // The window reads the config's start date: every field the manifest reads counts.
        guard case .fields(let fields) = scanned else { Issue.record("\(scanned)"); return }
        #expect(fields.contains("next_host"))
    }

    @Test func aFixedURLLetsEveryChangeKeepTheCredentials() throws {
        let scanned = try Self.destinations(requester: """
                        type: HttpRequester
                        url_base: "https://api.example.com"
                        path: /items
                        request_parameters: {since: "{{ config['start_date'] }}"}
            """)
        #expect(scanned == .fields([]))
    }
}
