import Crypto
import Foundation
import FuzzSupport
import HubConnectors
import HubCore

// libFuzzer target: a webhook delivery checked and read as the webhooks endpoint does, under
// one of a few fixed `hub.yaml` policies (one per signature scheme, algorithm and encoding).
//
// Input layout: byte 0 picks the policy; byte 1's low bit asks the harness to sign the body
// correctly (so the fuzzer gets past the MAC check to the payload reader), its other bits how
// many seconds old a Stripe timestamp is; then the signature header's value up to a newline,
// the event-id header's value up to a newline, and the body.

private let now = Date(timeIntervalSince1970: 1_800_000_000)
private let secret = Array("whsec_fuzz".utf8)

private let policies: [WebhookPolicy] = [
    "{scheme: stripe, secret: webhook_secret, tolerance: PT5M}",
    "{scheme: github, secret: webhook_secret}",
    "{scheme: hmac, secret: webhook_secret, header: X-Signature, algorithm: sha1, encoding: base64, prefix: 'v0='}",
    "{scheme: hmac, secret: webhook_secret, header: X-Signature, algorithm: sha512}",
].enumerated().compactMap { index, signature in
    let eventID = index == 1 ? "{header: X-Event-Id}" : "id"
    let yaml = """
        credentials: [webhook_secret]
        webhooks:
          signature: \(signature)
          event_id: \(eventID)
          event_type: type
          account: account.id
          events:
            contact.updated: {stream: contacts, record: data.object}
            contact.deleted: {stream: contacts, record: data.object, delete: true}
            ping: {stream: contacts}
        """
    return (try? ConnectorSidecar(yaml: yaml))?.webhooks
}

/// What a provider following `signature` would send for `body`.
private func sign(_ body: [UInt8], _ signature: WebhookPolicy.Signature, timestamp: Int) -> String {
    let key = SymmetricKey(data: secret)
    let mac: [UInt8] = switch signature.algorithm {
    case .sha256: Array(HMAC<SHA256>.authenticationCode(for: body, using: key))
    case .sha1: Array(HMAC<Insecure.SHA1>.authenticationCode(for: body, using: key))
    case .sha512: Array(HMAC<SHA512>.authenticationCode(for: body, using: key))
    }
    switch signature.scheme {
    case .stripe: return WebhookVerifier.sign(body: body, secret: secret, scheme: .stripe, timestamp: timestamp)
    case .github, .hmac:
        let encoded = signature.encoding == .base64 ? Data(mac).base64EncodedString() : mac.map { String(format: "%02x", $0) }.joined()
        return signature.prefix + encoded
    }
}

@main
enum Main {
    static func main() { Fuzzer.run(fuzz) }
}

func fuzz(_ input: [UInt8]) {
    guard input.count >= 2, policies.count == 4 else { return }
    let policy = policies[Int(input[0]) % policies.count]
    var rest = input[2...]
    func line() -> String {
        let end = rest.firstIndex(of: UInt8(ascii: "\n")) ?? rest.endIndex
        defer { rest = end < rest.endIndex ? rest[(end + 1)...] : rest[end...] }
        return String(decoding: rest[..<end], as: UTF8.self)
    }
    var signatureValue = line()
    let eventID = line()
    let body = Array(rest)
    if input[1] & 1 == 1 {
        signatureValue = sign(body, policy.signature, timestamp: Int(now.timeIntervalSince1970) - Int(input[1] >> 1))
    }
    let headers = [policy.signature.header.lowercased(): signatureValue, "x-event-id": eventID]
    let header: (String) -> String? = { headers[$0.lowercased()] }
    _ = try? WebhookVerifier(policy.signature).verify(body: body, header: header, secret: Secret(secret), now: now)
    // The endpoint reads only verified bodies; the reader is fuzzed on every body all the same.
    guard let event = try? WebhookEvent(body: body, header: header, policy: policy) else { return }
    for route in policy.events.values { _ = try? event.record(route) }
}
