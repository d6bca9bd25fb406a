import Crypto
import Foundation
import HubCore

/// Why a webhook was refused; the reason is safe to return (it names no secret or MAC).
public struct WebhookRejection: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// Checks a webhook's signature as its connector's `hub.yaml` declares. A missing signature
/// is a failure, never a skip; MACs are compared in constant time; a Stripe-style signed
/// timestamp must be within the tolerance of `now`, in either direction.
public struct WebhookVerifier: Sendable {
    public let signature: WebhookPolicy.Signature

    public init(_ signature: WebhookPolicy.Signature) {
        self.signature = signature
    }

    /// Checks the signature; returns exactly the bytes it covers (the body, with the signed
    /// timestamp for Stripe's scheme). Anything outside them, such as an event id in a header,
    /// is the sender's to change, so replays are recognised by these bytes.
    @discardableResult
    public func verify(body: [UInt8], header: (String) -> String?, secret: Secret<[UInt8]>, now: Date) throws -> [UInt8] {
        guard !secret.revealed.isEmpty else {
            throw WebhookRejection(reason: "the connection has no signing secret (\(signature.secretField)); the webhook cannot be verified")
        }
        guard let value = header(signature.header)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            throw WebhookRejection(reason: "the \(signature.header) header is missing")
        }
        switch signature.scheme {
        case .stripe:
            return try verifyStripe(value, body: body, secret: secret, now: now)
        case .github, .hmac:
            guard value.hasPrefix(signature.prefix) else {
                throw WebhookRejection(reason: "the \(signature.header) header does not start with \(signature.prefix)")
            }
            let provided = String(value.dropFirst(signature.prefix.count))
            guard let mac = decode(provided) else {
                throw WebhookRejection(reason: "the \(signature.header) header is not \(signature.encoding.rawValue)-encoded")
            }
            guard isValid(mac: mac, message: body, secret: secret) else {
                throw WebhookRejection(reason: "the signature in \(signature.header) does not match the body")
            }
            return body
        }
    }

    /// `t=TIMESTAMP,v1=MAC[,v1=MAC…]` over `TIMESTAMP.BODY`; any v1 may match (during a
    /// secret roll the provider sends one per secret).
    private func verifyStripe(_ value: String, body: [UInt8], secret: Secret<[UInt8]>, now: Date) throws -> [UInt8] {
        var timestamp: Int?
        var candidates: [[UInt8]] = []
        for part in value.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int(pair[1]) }
            if pair[0] == "v1", let mac = Self.hex(pair[1]) { candidates.append(mac) }
        }
        guard let timestamp else { throw WebhookRejection(reason: "the \(signature.header) header has no t= timestamp") }
        guard !candidates.isEmpty else { throw WebhookRejection(reason: "the \(signature.header) header has no v1= signature") }
        // The timestamp is the sender's: `t=-9223372036854775808` must not overflow the subtraction.
        let (age, overflow) = Int(now.timeIntervalSince1970).subtractingReportingOverflow(timestamp)
        guard !overflow, age.magnitude <= UInt(max(signature.toleranceSeconds, 0)) else {
            if overflow { throw WebhookRejection(reason: "the signed timestamp is out of range") }
            throw WebhookRejection(reason: "the signed timestamp is \(abs(age)) s \(age >= 0 ? "old" : "in the future"); the tolerance is \(signature.toleranceSeconds) s")
        }
        let message = Array("\(timestamp).".utf8) + body
        // Every candidate is checked, so the time taken doesn't say which one matched.
        var matched = false
        for mac in candidates where isValid(mac: mac, message: message, secret: secret) { matched = true }
        guard matched else { throw WebhookRejection(reason: "no v1 signature in \(signature.header) matches the body") }
        return message
    }

    private func isValid(mac: [UInt8], message: [UInt8], secret: Secret<[UInt8]>) -> Bool {
        let key = SymmetricKey(data: secret.revealed)
        // swift-crypto's isValidAuthenticationCode compares in constant time.
        switch signature.algorithm {
        case .sha256: return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: key)
        case .sha1: return HMAC<Insecure.SHA1>.isValidAuthenticationCode(mac, authenticating: message, using: key)
        case .sha512: return HMAC<SHA512>.isValidAuthenticationCode(mac, authenticating: message, using: key)
        }
    }

    private func decode(_ text: String) -> [UInt8]? {
        switch signature.encoding {
        case .hex: return Self.hex(text)
        case .base64: return Data(base64Encoded: text).map { Array($0) }
        }
    }

    static func hex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0, !digits.isEmpty else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// Signs as the scheme's provider does: for tests, fixtures and the demo's sample APIs.
    public static func sign(body: [UInt8], secret: [UInt8], scheme: WebhookPolicy.Scheme, timestamp: Int) -> String {
        let key = SymmetricKey(data: secret)
        switch scheme {
        case .stripe:
            let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: key)
            return "t=\(timestamp),v1=\(hexString(Array(mac)))"
        case .github:
            return "sha256=" + hexString(Array(HMAC<SHA256>.authenticationCode(for: body, using: key)))
        case .hmac:
            return hexString(Array(HMAC<SHA256>.authenticationCode(for: body, using: key)))
        }
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }
}
