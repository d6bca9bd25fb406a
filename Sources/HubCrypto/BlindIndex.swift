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

    public func normalize(_ value: String) -> String {
        switch self {
        case .exact: return value
        case .lowercaseTrim: return value.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        case .digits: return String(value.unicodeScalars.filter { $0.properties.numericType == .decimal && $0.isASCII }.map(Character.init))
        }
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
