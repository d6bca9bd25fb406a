import Crypto
import Foundation
import HubCore

/// AWS Signature Version 4 for one request (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
/// the canonical request, the string to sign, the derived signing key, and the headers that
/// carry them. Written here rather than taken from Soto or the AWS SDK for Swift: neither is
/// in the package mirror, and KMS needs three JSON calls, not an SDK.
struct SignatureV4: Sendable {
    let region: String
    let service: String

    /// The headers to send: `host`, `x-amz-date`, `x-amz-security-token` with session
    /// credentials, and `authorization`. `headers` are the
    /// request's own (each is signed); names are compared lowercased, as AWS canonicalizes them.
    func sign(method: String, url: URL, headers: [(String, String)], body: [UInt8], credentials: AWSCredentials,
              date: Date) -> [(String, String)] {
        let stamp = Self.timestamp(date)
        let day = String(stamp.prefix(8))
        let payloadHash = Self.hex(SHA256.hash(data: body))
        var signed: [(String, String)] = headers.map { ($0.0.lowercased(), $0.1.trimmingCharacters(in: .whitespaces)) }
        signed.append(("host", Self.host(url)))
        signed.append(("x-amz-date", stamp))
        if let token = credentials.sessionToken { signed.append(("x-amz-security-token", token.revealed)) }
        signed.sort { $0.0 < $1.0 }
        let signedNames = signed.map(\.0).joined(separator: ";")
        let path = url.path.isEmpty ? "/" : Self.encode(url.path, keepSlash: true)
        let items: [URLQueryItem] = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedQueryItems ?? []
        var pairs: [(String, String)] = []
        for item in items {
            let name = item.name.removingPercentEncoding ?? item.name
            let value = item.value.flatMap { $0.removingPercentEncoding } ?? ""
            pairs.append((Self.encode(name), Self.encode(value)))
        }
        pairs.sort { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        let query = pairs.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
        let canonical = [method, path, query, signed.map { "\($0.0):\($0.1)\n" }.joined(), signedNames, payloadHash].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", stamp, scope, Self.hex(SHA256.hash(data: Array(canonical.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey.revealed).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedNames), Signature=\(signature)"
        return signed + [("authorization", authorization)]
    }

    /// `host` or `host:port` when the port is not the scheme's default.
    static func host(_ url: URL) -> String {
        let host = url.host ?? ""
        guard let port = url.port, !(url.scheme == "https" && port == 443), !(url.scheme == "http" && port == 80) else { return host }
        return "\(host):\(port)"
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// RFC 3986 encoding as SigV4 wants it: every byte but unreserved characters (and `/` in paths).
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out += "/"
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
