import Foundation
import HubConnectors
import HubCore
import HubDatabase
import Synchronization
import Testing
import TributaryTestSupport

/// The egress policy as an attacker meets it: a `url_base`, a next-page URL or a redirect
/// aimed at the cloud metadata service, an internal host behind a public-looking name, or a
/// local socket. Names are resolved by a fake resolver, so no test sends a packet to a private
/// address even if the policy were broken (the name would not resolve for real).
@Suite("Egress policy")
struct EgressPolicyTests {
    /// Public-looking names that resolve where an attacker wants them to.
    struct HostileResolver: HostResolver {
        static let table: [String: [String]] = [
            "api.example.com": ["10.0.0.5"], "metadata.example.com": ["169.254.169.254"],
            "mapped.example.com": ["::ffff:127.0.0.1"], "ula.example.com": ["fd00::1"],
            "mixed.example.com": ["93.184.216.34", "192.168.1.1"], "public.example.com": ["93.184.216.34", "2606:4700::1111"],
            "nat64.example.com": ["64:ff9b::a9fe:a9fe"],
        ]

        func addresses(of host: String) async throws -> [[UInt8]] {
            if let literal = IPRange.parseAddress(host) { return [literal] }
            guard let names = Self.table[host] else { throw EgressRefused(host: host, reason: "it does not resolve (test)") }
            return names.compactMap(IPRange.parseAddress)
        }
    }

    static func policy(allowing allowList: String = "") throws -> EgressPolicy {
        EgressPolicy(allowed: try EgressPolicy.parseAllowList(allowList), resolver: HostileResolver())
    }

    static func refusal(_ url: String, allowing allowList: String = "") async throws -> String? {
        do {
            try await policy(allowing: allowList).check(url)
            return nil
        } catch let refused as EgressRefused {
            return refused.description
        }
    }

    @Test("names resolving to private, link-local, loopback, unique-local and mapped addresses are refused, naming the address and the setting")
    func resolvedAddressesAreChecked() async throws {
        let private10 = try #require(try await Self.refusal("https://api.example.com/v1/contacts"))
        #expect(private10.contains("10.0.0.5, a private (RFC 1918) address"), "\(private10)")
        #expect(private10.contains("TRIBUTARY_EGRESS_ALLOW=10.0.0.5/32"), "\(private10)")
        #expect(try await Self.refusal("http://metadata.example.com/latest/meta-data/")?.contains("link-local") == true)
        #expect(try await Self.refusal("http://mapped.example.com/")?.contains("::ffff:127.0.0.1") == true)
        #expect(try await Self.refusal("http://nat64.example.com/")?.contains("link-local") == true)
        #expect(try await Self.refusal("http://ula.example.com/")?.contains("unique-local") == true)
        // One bad address among good ones is enough: the connection may pick any of them.
        #expect(try await Self.refusal("https://mixed.example.com/")?.contains("192.168.1.1") == true)
        for literal in ["http://127.0.0.1:5432/", "http://[::1]/", "http://0.0.0.0/", "http://169.254.169.254/", "http://100.100.100.200/",
                        "http://[fe80::1]/", "http://172.31.255.255/"] {
            #expect(try await Self.refusal(literal) != nil, "\(literal)")
        }
        #expect(try await Self.refusal("https://public.example.com/v1") == nil)
        #expect(try await Self.refusal("https://93.184.216.34/") == nil)
    }

    @Test("an operator's allowance opens exactly its range")
    func allowances() async throws {
        #expect(try await Self.refusal("https://api.example.com/", allowing: "10.0.0.0/8") == nil)
        #expect(try await Self.refusal("https://api.example.com/", allowing: "10.0.0.4/32") != nil)
        #expect(try await Self.refusal("http://127.0.0.1:9/", allowing: LoopbackEgress.allowList) == nil)
        #expect(try await Self.refusal("http://metadata.example.com/", allowing: LoopbackEgress.allowList) != nil)
        #expect(throws: HubError.self) { try EgressPolicy.parseAllowList("10.0.0.0/33") }
        #expect(throws: HubError.self) { try EgressPolicy.parseAllowList("localhost") }
    }

    @Test("only http and https: no unix sockets, files or other schemes")
    func schemes() async throws {
        for url in ["http+unix://%2Fvar%2Frun%2Fpostgresql%2F.s.PGSQL.5432/", "unix:///var/run/docker.sock", "file:///etc/passwd",
                    "ftp://public.example.com/", "gopher://public.example.com/", "not a url"] {
            #expect(try await Self.refusal(url) != nil, "\(url)")
        }
    }

    static let manifest = """
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
                url_base: "{{ config['base_url'] }}"
                path: /items
                authenticator: {type: ApiKeyAuthenticator, api_token: "{{ config['api_key'] }}", header: X-Api-Key}
              record_selector:
                type: RecordSelector
                extractor: {type: DpathExtractor, field_path: [items]}
              paginator:
                type: DefaultPaginator
                pagination_strategy: {type: CursorPagination, cursor_value: "{{ response.next }}", stop_condition: "{{ not response.next }}"}
                page_token_option: {type: RequestPath}
        """

    static func read(baseURL: String, transport: AsyncHTTPTransport, followRedirects: Bool = false) async throws -> Int {
        var config = PyDict()
        config["base_url"] = .string(baseURL)
        config["api_key"] = .string("secret-key")
        var environment = EngineEnvironment(sleep: { _ in })
        environment.followRedirects = followRedirects
        let reader = StreamReader(source: try DeclarativeSource(yaml: manifest), config: .dict(config), transport: transport, environment: environment)
        let count = Mutex(0)
        try await reader.read(stream: "items", state: nil) { event in
            if case .records(_, let records) = event { count.withLock { $0 += records.count } }
        }
        return count.withLock { $0 }
    }

    static var loopbackOnly: AsyncHTTPTransport {
        AsyncHTTPTransport(egress: EgressPolicy(allowed: LoopbackEgress.policy.allowed, resolver: HostileResolver()))
    }

    @Test("the production transport refuses a loopback url_base by default, and an absolute next page to an internal host")
    func transportChecksEveryRequest() async throws {
        let api = FakeAPIServer { request in
            .json(request.path == "/items" ? #"{"items": [{"id": 1}], "next": "http://api.example.com/internal"}"# : #"{"items": []}"#)
        }
        try await api.withRunning { base in
            await #expect(throws: EgressRefused.self) { _ = try await Self.read(baseURL: base, transport: AsyncHTTPTransport()) }
            #expect(api.requests.isEmpty)
            do {
                _ = try await Self.read(baseURL: base, transport: Self.loopbackOnly)
                Issue.record("the next page on an internal host should be refused")
            } catch let refused as EgressRefused {
                #expect(refused.description.contains("10.0.0.5"), "\(refused)")
            }
            #expect(api.requests.map(\.path) == ["/items"])
        }
    }

    @Test("redirects: refused unless the connector enables them; then each hop is checked and custom headers stay with their origin")
    func redirects() async throws {
        let other = FakeAPIServer { _ in .json(#"{"items": [{"id": 2}]}"#) }
        try await other.withRunning { otherBase in
            let api = FakeAPIServer { request in
                switch request.path {
                case "/items": return FakeAPIServer.Reply(status: 302, body: [], headers: [("Location", "/moved")])
                case "/moved": return FakeAPIServer.Reply(status: 307, body: [], headers: [("Location", otherBase + "/elsewhere")])
                default: return FakeAPIServer.Reply(status: 302, body: [], headers: [("Location", "http://metadata.example.com/latest/meta-data/")])
                }
            }
            try await api.withRunning { base in
                do {
                    _ = try await Self.read(baseURL: base, transport: Self.loopbackOnly)
                    Issue.record("a redirect should be refused when the connector does not enable them")
                } catch let refused as EgressRefused {
                    #expect(refused.description.contains("follow_redirects: true"), "\(refused)")
                }
                #expect(try await Self.read(baseURL: base, transport: Self.loopbackOnly, followRedirects: true) == 1)
                let hops = api.requests.suffix(2)
                #expect(hops.map(\.path) == ["/items", "/moved"])
                // Same origin: the API key went along. Another origin (another port): it did not.
                #expect(hops.allSatisfy { $0.header("X-Api-Key") == "secret-key" })
                let landed = try #require(other.requests.last)
                #expect(landed.path == "/elsewhere")
                #expect(landed.header("X-Api-Key") == nil)
                #expect(landed.header("User-Agent") == "Tributary")

                do {
                    _ = try await Self.read(baseURL: base + "/to-metadata", transport: Self.loopbackOnly, followRedirects: true)
                    Issue.record("a redirect to the metadata service should be refused")
                } catch let refused as EgressRefused {
                    #expect(refused.description.contains("169.254.169.254"), "\(refused)")
                }
            }
        }
    }
}
