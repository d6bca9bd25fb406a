import Crypto
import Foundation
import HubConnectors
import HubCore
import Testing

@Suite("Webhook signatures")
struct WebhookVerifierTests {
    static let manifest = """
        version: 6.0.0
        type: DeclarativeSource
        spec:
          connection_specification:
            type: object
            properties:
              api_key: {type: string, airbyte_secret: true}
        streams:
          - type: DeclarativeStream
            name: contacts
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester: {type: HttpRequester, url_base: "https://crm.example.com", path: /contacts}
              record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
        """

    static func policy(_ signature: String) throws -> WebhookPolicy {
        let sidecar = """
            credentials: [webhook_secret]
            webhooks:
              signature: \(signature)
              event_id: id
              event_type: type
              events:
                contact.updated: {stream: contacts, record: data}
            """
        let definition = try ConnectorDefinition(name: "crm", manifest: manifest, sidecar: sidecar)
        return try #require(definition.sidecar.webhooks)
    }

    let secret = Secret(Array("whsec_test".utf8))
    let body = Array(#"{"id":"evt_1","type":"contact.updated","data":{"id":"c1"}}"#.utf8)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func headers(_ pairs: [String: String]) -> (String) -> String? {
        { name in pairs.first { $0.key.lowercased() == name.lowercased() }?.value }
    }

    @Test("Stripe style: t= and v1= over timestamp.body, any v1 may match, tolerance both ways")
    func stripe() throws {
        let verifier = WebhookVerifier(try Self.policy("{scheme: stripe, secret: webhook_secret, tolerance: PT5M}").signature)
        let timestamp = Int(now.timeIntervalSince1970)
        let good = WebhookVerifier.sign(body: body, secret: secret.revealed, scheme: .stripe, timestamp: timestamp)
        try verifier.verify(body: body, header: headers(["Stripe-Signature": good]), secret: secret, now: now)
        // During a secret roll the provider signs with both; either matching is enough.
        let rolled = "t=\(timestamp),v1=\(String(repeating: "ab", count: 32)),\(good.split(separator: ",")[1])"
        try verifier.verify(body: body, header: headers(["Stripe-Signature": rolled]), secret: secret, now: now)

        func rejection(_ header: [String: String], at time: Date? = nil, body: [UInt8]? = nil) -> String? {
            do {
                try verifier.verify(body: body ?? self.body, header: headers(header), secret: secret, now: time ?? now)
                return nil
            } catch let error as WebhookRejection { return error.reason } catch { return "\(error)" }
        }
        #expect(rejection([:])?.contains("Stripe-Signature header is missing") == true)
        #expect(rejection(["Stripe-Signature": good], body: Array(#"{"id":"evt_1","type":"contact.updated","data":{"id":"c2"}}"#.utf8))?
            .contains("matches the body") == true)
        #expect(rejection(["Stripe-Signature": good], at: now.addingTimeInterval(301))?.contains("301 s old") == true)
        #expect(rejection(["Stripe-Signature": good], at: now.addingTimeInterval(-301))?.contains("in the future") == true)
        #expect(rejection(["Stripe-Signature": good], at: now.addingTimeInterval(299)) == nil)
        #expect(rejection(["Stripe-Signature": "v1=" + String(repeating: "00", count: 32)])?.contains("no t= timestamp") == true)
        // A sender's timestamp at the ends of Int's range once overflowed `now - t` and trapped.
        for extreme in ["-9223372036854775808", "9223372036854775807"] {
            #expect(rejection(["Stripe-Signature": "t=\(extreme),v1=" + String(repeating: "00", count: 32)]) != nil)
        }
        let otherSecret = WebhookVerifier.sign(body: body, secret: Array("whsec_other".utf8), scheme: .stripe, timestamp: timestamp)
        #expect(rejection(["Stripe-Signature": otherSecret]) != nil)
        // The reason never carries the secret or the expected MAC.
        #expect(rejection(["Stripe-Signature": otherSecret])?.contains("whsec") == false)
    }

    @Test("GitHub style: sha256= HMAC of the body")
    func github() throws {
        let verifier = WebhookVerifier(try Self.policy("{scheme: github, secret: webhook_secret}").signature)
        let good = WebhookVerifier.sign(body: body, secret: secret.revealed, scheme: .github, timestamp: 0)
        #expect(good.hasPrefix("sha256="))
        try verifier.verify(body: body, header: headers(["X-Hub-Signature-256": good]), secret: secret, now: now)
        #expect(throws: WebhookRejection.self) {
            try verifier.verify(body: body, header: headers(["X-Hub-Signature-256": String(good.dropFirst(7))]), secret: secret, now: now)
        }
        #expect(throws: WebhookRejection.self) {
            try verifier.verify(body: body + [32], header: headers(["X-Hub-Signature-256": good]), secret: secret, now: now)
        }
        // No secret configured: rejected, never skipped.
        #expect(throws: WebhookRejection.self) {
            try verifier.verify(body: body, header: headers(["X-Hub-Signature-256": good]), secret: Secret([]), now: now)
        }
    }

    @Test("generic HMAC: header, algorithm and encoding as declared")
    func genericHMAC() throws {
        let verifier = WebhookVerifier(try Self.policy(
            "{scheme: hmac, secret: webhook_secret, header: X-Signature, algorithm: sha512, encoding: base64}").signature)
        let mac = HMAC<SHA512>.authenticationCode(for: body, using: SymmetricKey(data: secret.revealed))
        let header = Data(mac).base64EncodedString()
        try verifier.verify(body: body, header: headers(["x-signature": header]), secret: secret, now: now)
        let sha256 = Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret.revealed))).base64EncodedString()
        #expect(throws: WebhookRejection.self) {
            try verifier.verify(body: body, header: headers(["X-Signature": sha256]), secret: secret, now: now)
        }
        #expect(throws: WebhookRejection.self) {
            try verifier.verify(body: body, header: headers(["X-Signature": "not base64 !!"]), secret: secret, now: now)
        }
    }

    @Test("hub.yaml webhook settings are checked at registration")
    func policyErrors() throws {
        func problem(_ sidecar: String) -> String {
            do {
                _ = try ConnectorDefinition(name: "crm", manifest: Self.manifest, sidecar: sidecar)
                return ""
            } catch { return "\(error)" }
        }
        #expect(problem("""
            webhooks: {signature: {scheme: hmac, secret: webhook_secret}, event_id: id, event_type: type, events: {}}
            """).contains("webhooks.signature.header: is required"))
        #expect(problem("""
            webhooks: {signature: {scheme: rsa, secret: s}, event_id: id, event_type: type, events: {}}
            """).contains("unknown scheme 'rsa'"))
        #expect(problem("""
            webhooks: {signature: {scheme: github, secret: webhook_secret}, event_id: id, event_type: type,
                       events: {a: {stream: contacts}}}
            """).contains("must be a credential"))
        #expect(problem("""
            credentials: [webhook_secret]
            webhooks: {signature: {scheme: github, secret: webhook_secret}, event_id: id, event_type: type,
                       events: {a: {stream: deals}}}
            """).contains("webhooks.events.a.stream: the manifest has no stream deals"))
        #expect(problem("""
            credentials: [webhook_secret]
            webhooks: {signature: {scheme: github, secret: webhook_secret}, event_type: type, events: {}}
            """).contains("webhooks.event_id: is required"))
    }
}
