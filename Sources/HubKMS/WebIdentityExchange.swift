import Foundation
import HubCore

/// STS `AssumeRoleWithWebIdentity`: the token file's JWT (rotated by Kubernetes or the OIDC provider, so it
/// is read again on every exchange) for a role's temporary credentials. The call is not
/// signed: the token is the proof. The answer is XML; the four values needed are taken from
/// their elements, and nothing else of it is read.
struct WebIdentityExchange: Sendable {
    let tokenFile: String
    let roleARN: String
    let sessionName: String
    let endpoint: URL

    func credentials(client: AWSHTTP) async throws -> AWSCredentials {
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw HubError(.keyUnavailable, "cannot read the web identity token file \(tokenFile) (AWS_WEB_IDENTITY_TOKEN_FILE)")
        }
        guard !token.isEmpty else { throw HubError(.keyUnavailable, "the web identity token file \(tokenFile) is empty") }
        let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
                    ("RoleSessionName", sessionName), ("WebIdentityToken", token), ("DurationSeconds", "3600")]
            .map { "\($0.0)=\(SignatureV4.encode($0.1))" }.joined(separator: "&")
        let response = try await client.post(endpoint, headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(form.utf8))
        let text = String(decoding: response.body, as: UTF8.self)
        guard response.status == 200 else {
            // STS's code and message explain a refusal (a bad audience, an expired token) and hold
            // no secret; the token is never echoed.
            let detail = [Self.element("Code", in: text), Self.element("Message", in: text).map { String($0.prefix(300)) }].compactMap { $0 }
            throw HubError(.keyUnavailable, "STS AssumeRoleWithWebIdentity for \(roleARN) failed (HTTP \(response.status)\(detail.isEmpty ? "" : ": " + detail.joined(separator: ": ")))")
        }
        guard let id = Self.element("AccessKeyId", in: text), let secret = Self.element("SecretAccessKey", in: text),
              let session = Self.element("SessionToken", in: text) else {
            throw HubError(.keyUnavailable, "STS AssumeRoleWithWebIdentity for \(roleARN) answered without credentials")
        }
        guard let expiration = Self.element("Expiration", in: text).flatMap(Self.date) else {
            throw HubError(.keyUnavailable, "STS AssumeRoleWithWebIdentity for \(roleARN) answered without a readable Expiration")
        }
        // Never trusted past what was asked for (an hour), whatever the answer says.
        return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(Self.unescape(secret)), sessionToken: Secret(Self.unescape(session)),
                              expiration: min(expiration, Date().addingTimeInterval(3600)))
    }

    /// ISO 8601, with or without fractional seconds (AWS sends none, other servers do).
    static func date(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// The text of the first `<name>…</name>`.
    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else { return nil }
        return String(xml[open.upperBound..<close.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
