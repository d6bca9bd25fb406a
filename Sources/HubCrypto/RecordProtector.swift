import Foundation
import HubCore

/// Which of a record's fields are sensitive (sealed) and which are blind-indexed, as a
/// connector's `hub.yaml` declares them.
public struct RecordPolicy: Sendable, Hashable {
    /// Top-level field names whose values are encrypted.
    public var sensitiveFields: Set<String>
    public var blindIndexes: [BlindIndexField]

    public init(sensitiveFields: Set<String> = [], blindIndexes: [BlindIndexField] = []) {
        self.sensitiveFields = sensitiveFields
        self.blindIndexes = blindIndexes
    }
}

/// A record as it is stored: plain fields, the sensitive ones sealed as one ciphertext,
/// blind indexes and the keyed content hash.
public struct ProtectedRecord: Sendable {
    public let plain: [String: JSONValue]
    public let sensitive: [UInt8]?
    public let keyVersion: Int
    public let blindIndex: [[UInt8]]
    public let contentHash: [UInt8]
}

/// Turns records into `ProtectedRecord`s and back. All of a record's sensitive fields go into
/// one AES-GCM seal: each seal has a fixed cost that dominates small fields.
public enum RecordProtector {
    /// Seals the sensitive fields with `key` (the tenant's data key) and computes blind indexes
    /// and the content hash with `indexKey` (the tenant's index key).
    public static func protect(
        _ fields: [String: JSONValue], policy: RecordPolicy, key: DataKey, indexKey: DataKey, context: EncryptionContext
    ) throws -> ProtectedRecord {
        var plain = fields
        var sensitive: [String: JSONValue] = [:]
        for name in policy.sensitiveFields {
            if let value = plain.removeValue(forKey: name) { sensitive[name] = value }
        }
        let sealed = sensitive.isEmpty
            ? nil : try Envelope.seal(Array(JSONValue.object(sensitive).canonicalJSON.utf8), with: key, context: context)
        var digests: [[UInt8]] = []
        for field in policy.blindIndexes {
            if let text = fields[field.name]?.scalarText {
                digests.append(BlindIndex.digest(text, field: field, key: indexKey))
            }
        }
        return ProtectedRecord(
            plain: plain, sensitive: sealed, keyVersion: key.version, blindIndex: digests,
            contentHash: ContentHash.of(.object(fields), key: indexKey)
        )
    }

    /// The sensitive fields of a stored record, decrypted.
    public static func reveal(_ sealed: [UInt8], key: DataKey, context: EncryptionContext) throws -> Secret<[String: JSONValue]> {
        let plaintext = try Envelope.open(sealed, with: key, context: context)
        guard let object = try? JSONDecoder().decode(JSONValue.self, from: Data(plaintext.revealed)).objectValue else {
            throw HubError(.decryptionFailed, "the sensitive fields of row \(context.row) decrypted to something other than a JSON object")
        }
        return Secret(object)
    }
}
