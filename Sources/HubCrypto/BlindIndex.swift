import Crypto
import Foundation
import HubCore

/// How a value is normalized before its blind index is computed: equal after normalizing
/// means equal index, so `Ann@X.com ` finds `ann@x.com`.
public enum BlindIndexNormalizer: String, Sendable, Codable, CaseIterable {
    case exact
    /// Trimmed of surrounding white space and lower-cased: emails, user names.
    case lowercaseTrim = "lowercase_trim"
    /// Digits only: phone numbers in any punctuation.
    case digits
    /// A web domain however it was written: `https://www.Acme.com/about` and `acme.com.` are
    /// both `acme.com` (scheme, user, `www.`, port, path and a trailing dot dropped).
    case domain

    public func normalize(_ value: String) -> String {
        switch self {
        case .exact: return value
        case .lowercaseTrim: return Self.trimmingWhiteSpace(value).lowercased()
        case .digits: return String(value.unicodeScalars.filter { $0.properties.numericType == .decimal && $0.isASCII }.map(Character.init))
        case .domain: return Self.domain(value)
        }
    }

    static func domain(_ value: String) -> String {
        var text = Substring(Self.trimmingWhiteSpace(value).lowercased())
        if let scheme = text.range(of: "://") { text = text[scheme.upperBound...] }
        if let end = text.firstIndex(where: { "/?#".contains($0) }) { text = text[..<end] }
        if let user = text.lastIndex(of: "@") { text = text[text.index(after: user)...] }
        if let port = text.lastIndex(of: ":"), text[text.index(after: port)...].allSatisfy(\.isNumber) { text = text[..<port] }
        while text.hasSuffix(".") { text = text.dropLast() }
        if text.hasPrefix("www.") { text = text.dropFirst(4) }
        return String(text)
    }

    /// What `trimmingCharacters(in: .whitespacesAndNewlines)` returns, without the NSString
    /// bridge it costs on Linux: a sync indexes every record, and the trim was a twentieth of
    /// its CPU. Stored digests depend on the result, so it must stay the same; a test compares
    /// the two over every scalar. Foundation's set is Unicode's White_Space plus U+200B (zero
    /// width space, which Unicode once counted as a space).
    static func trimmingWhiteSpace(_ value: String) -> Substring {
        let scalars = value.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }), let last = scalars.lastIndex(where: { !isTrimmed($0) }) else {
            return ""
        }
        return Substring(scalars[first...last])
    }

    static func isTrimmed(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value == 0x200B || scalar.properties.isWhitespace
    }
}

/// A field looked up by equality without decryption.
public struct BlindIndexField: Sendable, Hashable, Codable {
    public let name: String
    public let normalizer: BlindIndexNormalizer

    public init(name: String, normalizer: BlindIndexNormalizer) {
        self.name = name
        self.normalizer = normalizer
    }
}

/// HMAC-SHA256 of the normalized value under the field's own subkey, truncated to 16 bytes:
/// enough that unrelated values never collide in practice, short enough to index cheaply.
/// The subkey is per tenant and per field name, so the same email under two tenants, or in
/// two differently named fields, gives unrelated digests; two connectors that both name the
/// field `email` match.
public enum BlindIndex {
    public static let length = 16

    public static func digest(_ value: String, field: BlindIndexField, key: DataKey) -> [UInt8] {
        let normalized = field.normalizer.normalize(value)
        let tag = HMAC<SHA256>.authenticationCode(for: Array(normalized.utf8), using: key.subkey(.blindIndex, field: field.name))
        return Array(Array(tag).prefix(length))
    }
}
