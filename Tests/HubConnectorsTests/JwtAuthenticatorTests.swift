import Crypto
import CryptoExtras
import Foundation
import HubConnectors
import Synchronization
import Testing

/// `JwtAuthenticator` beyond the recorded `cdk_jwt` case (HS256, HS512 and RS256, whose
/// signatures are fixed): ECDSA, RSA-PSS and Ed25519 signatures are randomized or unrecorded,
/// so each token is checked here against its public key; and the refusals name what is wrong
/// without ever printing the key.
@Suite("JWT authenticator")
struct JwtAuthenticatorTests {
    /// Answers one empty page and keeps each request's Authorization header.
    final class CapturingAPI: HTTPTransport {
        let authorizations = Mutex<[String]>([])

        func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
            let value = request.headers.first { $0.0.lowercased() == "authorization" }?.1 ?? ""
            authorizations.withLock { $0.append(value) }
            return HTTPResponseData(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"data": []}"#.utf8))
        }
    }

    static func manifest(algorithm: String, extra: String = "") -> String {
        ComponentDefaultsTests.manifest(retriever: "", requester: """
                authenticator:
                  type: JwtAuthenticator
                  secret_key: "{{ config['key'] }}"
                  algorithm: \(algorithm)
                  jwt_payload: {iss: tributary}
        \(extra)
        """)
    }

    /// The token sent for `key`, split into its signing input and signature.
    func token(algorithm: String, key: String, extra: String = "") async throws -> (input: Data, signature: Data, claims: [String: Any]) {
        let api = CapturingAPI()
        var config = PyDict()
        config["key"] = .string(key)
        let reader = StreamReader(source: try DeclarativeSource(yaml: Self.manifest(algorithm: algorithm, extra: extra)), config: .dict(config),
                                  transport: api, environment: EngineEnvironment(sleep: { _ in }))
        try await reader.read(stream: "items", state: nil) { _ in }
        let token = try #require(api.authorizations.withLock { $0.first })
        let parts = token.split(separator: ".").map(String.init)
        try #require(parts.count == 3)
        func decode(_ text: String) throws -> Data {
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            return try #require(Data(base64Encoded: base64))
        }
        let claims = try #require(try JSONSerialization.jsonObject(with: try decode(parts[1])) as? [String: Any])
        return (Data((parts[0] + "." + parts[1]).utf8), try decode(parts[2]), claims)
    }

    @Test func ecdsaTokensVerifyWithThePublicKey() async throws {
        let p256 = P256.Signing.PrivateKey()
        let signed = try await token(algorithm: "ES256", key: p256.pemRepresentation)
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: signed.signature)
        #expect(p256.publicKey.isValidSignature(signature, for: signed.input))
        #expect(signed.claims["iss"] as? String == "tributary")
        #expect((signed.claims["exp"] as? Int).map { $0 - (signed.claims["iat"] as? Int ?? 0) } == 1200)

        let p384 = P384.Signing.PrivateKey()
        let signed384 = try await token(algorithm: "ES384", key: p384.pemRepresentation)
        #expect(p384.publicKey.isValidSignature(try P384.Signing.ECDSASignature(rawRepresentation: signed384.signature), for: signed384.input))
        let p521 = P521.Signing.PrivateKey()
        let signed521 = try await token(algorithm: "ES512", key: p521.pemRepresentation)
        #expect(p521.publicKey.isValidSignature(try P521.Signing.ECDSASignature(rawRepresentation: signed521.signature), for: signed521.input))
    }

    @Test func pssAndEd25519TokensVerifyWithThePublicKey() async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let pss = try await token(algorithm: "PS256", key: rsa.pemRepresentation)
        #expect(rsa.publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: pss.signature),
                                               for: SHA256.hash(data: pss.input), padding: .PSS))
        let ed = Curve25519.Signing.PrivateKey()
        let signed = try await token(algorithm: "EdDSA", key: ed.pemRepresentation)
        #expect(ed.publicKey.isValidSignature(signed.signature, for: signed.input))
    }

    @Test func wrongKeysAndReservedNamesAreRefusedWithoutShowingTheKey() async throws {
        let secret = "hunter2-do-not-print"
        let wrongKind = await #expect(throws: (any Error).self) { try await token(algorithm: "RS256", key: secret) }
        let text = String(describing: wrongKind)
        #expect(text.contains("RS256 needs an RSA private key"), "\(text)")
        #expect(!text.contains(secret))
        let pemAsSecret = await #expect(throws: (any Error).self) {
            try await token(algorithm: "HS256", key: P256.Signing.PrivateKey().pemRepresentation)
        }
        #expect(String(describing: pemAsSecret).contains("an HMAC secret, not a PEM key"))
        let reserved = await #expect(throws: (any Error).self) {
            try await token(algorithm: "HS256", key: secret, extra: "          additional_jwt_payload: {exp: 1}")
        }
        #expect(String(describing: reserved).contains("'exp' is a reserved claim"), "\(String(describing: reserved))")

        let secp256k1 = #expect(throws: (any Error).self) { try DeclarativeSource(yaml: Self.manifest(algorithm: "ES256K")) }
        #expect(String(describing: secp256k1).contains("ES256K (secp256k1) is not supported"))
        let encrypted = #expect(throws: (any Error).self) {
            try DeclarativeSource(yaml: Self.manifest(algorithm: "RS256", extra: "          passphrase: \"{{ config['pass'] }}\""))
        }
        #expect(String(describing: encrypted).contains("passphrase"))
        let duration = #expect(throws: (any Error).self) {
            try DeclarativeSource(yaml: Self.manifest(algorithm: "HS256", extra: "          token_duration: 99999999999"))
        }
        #expect(String(describing: duration).contains("token_duration"))
    }
}
