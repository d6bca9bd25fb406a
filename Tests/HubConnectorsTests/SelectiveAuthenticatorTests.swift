import HubConnectors
import Testing

/// `SelectiveAuthenticator` fails as the CDK does when the config does not choose one of its
/// authenticators, and is refused when it would choose another selective one.
@Suite("Selective authenticator")
struct SelectiveAuthenticatorTests {
    static func manifest(_ choice: String) -> String {
        ComponentDefaultsTests.manifest(retriever: "", requester: """
                authenticator:
                  type: SelectiveAuthenticator
                  authenticator_selection_path: [credentials, auth_type]
                  authenticators:
                    token:
        \(choice)
        """)
    }

    static let manifest = manifest("""
                      type: BearerAuthenticator
                      api_token: "{{ config['credentials']['api_key'] }}"
        """)

    func read(config: PyValue) async throws {
        let reader = StreamReader(source: try DeclarativeSource(yaml: Self.manifest), config: config,
                                  transport: ComponentDefaultsTests.PagesAPI(bodies: [#"{"data": []}"#]),
                                  environment: EngineEnvironment(sleep: { _ in }))
        try await reader.read(stream: "items", state: nil) { _ in }
    }

    @Test func theConfigMustNameOneOfItsAuthenticators() async throws {
        var credentials = PyDict()
        credentials["auth_type"] = .string("oauth")
        var config = PyDict()
        let missing = await #expect(throws: (any Error).self) { try await read(config: .dict(config)) }
        #expect("\(String(describing: missing))".contains("authenticator_selection_path"))
        config["credentials"] = .dict(credentials)
        let unknown = await #expect(throws: (any Error).self) { try await read(config: .dict(config)) }
        #expect("\(String(describing: unknown))".contains("the authenticator `oauth` is not found"))
        credentials["auth_type"] = .string("token")
        credentials["api_key"] = .string("k")
        config["credentials"] = .dict(credentials)
        try await read(config: .dict(config))
    }

    @Test func itCannotChooseAnotherSelectiveAuthenticator() throws {
        let nested = Self.manifest("""
                      type: SelectiveAuthenticator
                      authenticator_selection_path: [other]
                      authenticators: {none: {type: NoAuth}}
        """)
        #expect(throws: Never.self) { try DeclarativeSource(yaml: Self.manifest) }
        let refused = #expect(throws: (any Error).self) { try DeclarativeSource(yaml: nested) }
        #expect("\(String(describing: refused))".contains("cannot choose another SelectiveAuthenticator"), "\(String(describing: refused))")
    }
}
