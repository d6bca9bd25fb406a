import Foundation
import HubConnectors
import HubCore
import Synchronization
import Testing

/// `OAuthAuthenticator` against a fake token endpoint: the refresh request the CDK sends, the
/// bearer token on every request, refreshing on expiry, retries, and errors that name the
/// provider's reason without echoing a secret.
@Suite("OAuth authenticator")
struct OAuthAuthenticatorTests {
    /// A token endpoint at /oauth/token and two pages of data at /items; the token endpoint
    /// answers with `tokenReplies` in turn (then 200s), and the clock moves a minute per request.
    final class ProviderAPI: HTTPTransport {
        let tokenReplies: [(Int, String)]
        let expiresIn: Int
        /// Data requests with these bearer tokens get a 401 (a token revoked early).
        let rejected: Set<String>
        let log = Mutex<[HTTPRequestData]>([])
        let issued = Mutex(0)
        let clock = Mutex(Int64(1_717_243_200))  // 2024-06-01T12:00:00Z

        init(tokenReplies: [(Int, String)] = [], expiresIn: Int = 3600, rejected: Set<String> = []) {
            self.tokenReplies = tokenReplies
            self.expiresIn = expiresIn
            self.rejected = rejected
        }

        var now: @Sendable () -> PyDateTime { { PyDateTime(wallMicros: Int64(self.clock.withLock { $0 }) * 1_000_000, offset: 0) } }

        func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
            let count = log.withLock { $0.append(request); return $0.count }
            clock.withLock { $0 += 60 }
            func reply(_ status: Int, _ body: String) -> HTTPResponseData {
                HTTPResponseData(status: status, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
            }
            if request.url.contains("/oauth/token") {
                let attempt = log.withLock { $0.filter { $0.url.contains("/oauth/token") }.count }
                if attempt <= tokenReplies.count { return reply(tokenReplies[attempt - 1].0, tokenReplies[attempt - 1].1) }
                let number = issued.withLock { $0 += 1; return $0 }
                return reply(200, #"{"data": {"access_token": "at-\#(number)", "expires_in": \#(expiresIn)}}"#)
            }
            _ = count
            if let auth = request.headers.first(where: { $0.0 == "Authorization" })?.1, rejected.contains(String(auth.dropFirst(7))) {
                return reply(401, #"{"error": "invalid_token"}"#)
            }
            let page = request.url.contains("page=2") ? #"{"items": [{"id": 3}], "next": null}"# : #"{"items": [{"id": 1}, {"id": 2}], "next": 2}"#
            return reply(200, page)
        }

        var requests: [HTTPRequestData] { log.withLock { $0 } }
    }

    static func manifest(_ authenticator: String, errorHandler: String = "") -> String {
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
        \(errorHandler)
                authenticator:
        \(authenticator)
              record_selector:
                type: RecordSelector
                extractor: {type: DpathExtractor, field_path: [items]}
              paginator:
                type: DefaultPaginator
                page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
                pagination_strategy: {type: CursorPagination, cursor_value: "{{ response.next }}", stop_condition: "{{ not response.next }}"}
        """
    }

    static let refreshGrant = """
                  type: OAuthAuthenticator
                  token_refresh_endpoint: https://auth.example.com/oauth/token
                  client_id: "{{ config['client_id'] }}"
                  client_secret: "{{ config['client_secret'] }}"
                  refresh_token: "{{ config['refresh_token'] }}"
                  scopes: [read, write]
                  refresh_request_body: {audience: api, grant_type: ignored}
        """

    static let config: PyValue = {
        var config = PyDict()
        config["client_id"] = .string("cid")
        config["client_secret"] = .string("s3cret value")
        config["refresh_token"] = .string("rt-secret")
        return .dict(config)
    }()

    static func read(_ manifest: String, api: ProviderAPI) async throws -> Int {
        let reader = StreamReader(source: try DeclarativeSource(yaml: manifest), config: config, transport: api,
                                  environment: EngineEnvironment(now: api.now, sleep: { _ in }))
        let count = Mutex(0)
        try await reader.read(stream: "items", state: nil) { event in
            if case .records(_, let records) = event { count.withLock { $0 += records.count } }
        }
        return count.withLock { $0 }
    }

    @Test("the refresh request is the CDK's form body, and the token is fetched once and sent as a bearer")
    func refreshTokenGrant() async throws {
        let api = ProviderAPI()
        #expect(try await Self.read(Self.manifest(Self.refreshGrant), api: api) == 3)
        let requests = api.requests
        #expect(requests.map { $0.url.contains("/oauth/token") } == [true, false, false])
        let token = try #require(requests.first)
        #expect(token.method == "POST")
        #expect(String(decoding: token.body ?? [], as: UTF8.self)
                == "grant_type=refresh_token&client_id=cid&client_secret=s3cret+value&refresh_token=rt-secret&scopes=read&scopes=write&audience=api")
        #expect(token.headers.contains { $0.0 == "Content-Type" && $0.1 == "application/x-www-form-urlencoded" })
        for data in requests.dropFirst() {
            #expect(data.headers.contains { $0.0 == "Authorization" && $0.1 == "Bearer at-1" })
        }
    }

    @Test("an expired token is refreshed before the next request")
    func refreshOnExpiry() async throws {
        // 90 s tokens; the clock moves a minute per request: every other data request refreshes.
        let api = ProviderAPI(expiresIn: 90)
        #expect(try await Self.read(Self.manifest(Self.refreshGrant), api: api) == 3)
        let kinds = api.requests.map { $0.url.contains("/oauth/token") ? "token" : "data" }
        #expect(kinds == ["token", "data", "token", "data"])
        #expect(api.requests.last?.headers.contains { $0.0 == "Authorization" && $0.1 == "Bearer at-2" } == true)
    }

    @Test("503s from the token endpoint are retried; a refused refresh names the provider's reason, not the secrets")
    func tokenEndpointFailures() async throws {
        let flaky = ProviderAPI(tokenReplies: [(503, "{}"), (429, "{}")])
        #expect(try await Self.read(Self.manifest(Self.refreshGrant), api: flaky) == 3)
        #expect(flaky.requests.filter { $0.url.contains("/oauth/token") }.count == 3)

        let revoked = ProviderAPI(tokenReplies: [(400, #"{"error": "invalid_grant", "error_description": "Token has been revoked", "refresh_token": "rt-secret"}"#)])
        do {
            _ = try await Self.read(Self.manifest(Self.refreshGrant), api: revoked)
            Issue.record("a refused refresh should fail the read")
        } catch let failure as RequestFailure {
            #expect(failure.status == 400)
            #expect(failure.message.contains("invalid_grant: Token has been revoked"), "\(failure.message)")
            #expect(!failure.description.contains("rt-secret") && !failure.description.contains("s3cret"))
            #expect(failure.path.description.hasSuffix("authenticator"), "\(failure.path)")
        }
        #expect(revoked.requests.count == 1)
    }

    @Test("client credentials send no refresh token; credentials in a refresh Authorization header stay out of the body")
    func clientCredentials() async throws {
        let api = ProviderAPI()
        _ = try await Self.read(Self.manifest("""
                      type: OAuthAuthenticator
                      token_refresh_endpoint: https://auth.example.com/oauth/token
                      grant_type: client_credentials
                      client_id: "{{ config['client_id'] }}"
                      client_secret: "{{ config['client_secret'] }}"
                      refresh_request_headers:
                        Authorization: "Basic {{ (config['client_id'] ~ ':' ~ config['client_secret']) | base64encode }}"
            """), api: api)
        let token = try #require(api.requests.first)
        #expect(String(decoding: token.body ?? [], as: UTF8.self) == "grant_type=client_credentials")
        #expect(token.headers.contains { $0.0 == "Authorization" && $0.1 == "Basic Y2lkOnMzY3JldCB2YWx1ZQ==" })
    }

    static let refreshOn401 = """
                error_handler:
                  type: DefaultErrorHandler
                  response_filters:
                    - {type: HttpResponseFilter, http_codes: [401], action: REFRESH_TOKEN_THEN_RETRY}
        """

    @Test("REFRESH_TOKEN_THEN_RETRY fetches a new token and retries once; rejected again, the request fails")
    func refreshOnRejection() async throws {
        let revokedEarly = ProviderAPI(rejected: ["at-1"])
        #expect(try await Self.read(Self.manifest(Self.refreshGrant, errorHandler: Self.refreshOn401), api: revokedEarly) == 3)
        let kinds = revokedEarly.requests.map { $0.url.contains("/oauth/token") ? "token" : "data" }
        #expect(kinds == ["token", "data", "token", "data", "data"])
        #expect(revokedEarly.requests.last?.headers.contains { $0.0 == "Authorization" && $0.1 == "Bearer at-2" } == true)

        let alwaysRejected = ProviderAPI(rejected: ["at-1", "at-2", "at-3"])
        await #expect(throws: RequestFailure.self) {
            _ = try await Self.read(Self.manifest(Self.refreshGrant, errorHandler: Self.refreshOn401), api: alwaysRejected)
        }
        #expect(alwaysRejected.requests.filter { $0.url.contains("/oauth/token") }.count == 2)
    }

    @Test("rotating refresh tokens and JWT assertions are refused at load, naming the field")
    func unsupportedAtLoad() throws {
        do {
            _ = try DeclarativeSource(yaml: Self.manifest(Self.refreshGrant + """

                          refresh_token_updater: {refresh_token_name: refresh_token}
                """))
            Issue.record("refresh_token_updater should be refused")
        } catch {
            #expect("\(error)".contains("authenticator.refresh_token_updater"), "\(error)")
        }
    }
}
