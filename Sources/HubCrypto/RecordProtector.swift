import Crypto
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

/// A record as it is stored: the plain fields as canonical JSON, the sensitive ones sealed
/// as one ciphertext, blind indexes and the keyed content hash.
public struct ProtectedRecord: Sendable {
    /// Canonical JSON of the non-sensitive fields: what the `data` column stores.
    public let plainJSON: [UInt8]
    public let sensitive: [UInt8]?
    public let keyVersion: Int
    public let blindIndex: [[UInt8]]
    public let contentHash: [UInt8]
}

/// Turns records into `ProtectedRecord`s and back, for one tenant, policy and column at a
/// time: subkeys, keyed MAC states and the constant part of the associated data are prepared
/// once per batch, not once per record.
///
/// All of a record's sensitive fields go into one AES-GCM seal, since each seal has a fixed
/// cost that dominates small fields. The content hash is an HMAC over the plain and the
/// sensitive JSON, which are both built anyway, so the record is serialized only once.
public struct RecordProtector {
    public let keyVersion: Int
    private let sealing: SealingKey
    private let blindIndexes: [(field: BlindIndexField, mac: HMAC<SHA256>)]
    private let contentMAC: HMAC<SHA256>
    private let sensitiveFields: Set<String>

    public init(policy: RecordPolicy, key: DataKey, indexKey: DataKey, table: String = "records", column: String = "sensitive") {
        keyVersion = key.version
        sealing = SealingKey(key: key, tenant: key.tenant, table: table, column: column)
        sensitiveFields = policy.sensitiveFields
        blindIndexes = policy.blindIndexes.map { ($0, HMAC<SHA256>(key: indexKey.subkey(.blindIndex, field: $0.name))) }
        contentMAC = HMAC<SHA256>(key: indexKey.subkey(.contentHash, field: "record"))
    }

    public func protect(_ fields: [String: JSONValue], row: String) throws -> ProtectedRecord {
        let keys = fields.keys.sorted()
        var plainKeys: [String] = []
        var sensitiveKeys: [String] = []
        for key in keys {
            if sensitiveFields.contains(key) { sensitiveKeys.append(key) } else { plainKeys.append(key) }
        }
        var plainJSON: [UInt8] = []
        plainJSON.reserveCapacity(256)
        JSONValue.appendObject(fields, keys: plainKeys, to: &plainJSON)
        var sensitiveJSON: [UInt8] = []
        if !sensitiveKeys.isEmpty { JSONValue.appendObject(fields, keys: sensitiveKeys, to: &sensitiveJSON) }

        var digests: [[UInt8]] = []
        for (field, prepared) in blindIndexes {
            guard let text = fields[field.name]?.scalarText else { continue }
            var mac = prepared
            mac.update(data: Array(field.normalizer.normalize(text).utf8))
            digests.append(Array(Array(mac.finalize()).prefix(BlindIndex.length)))
        }
        var content = contentMAC
        content.update(data: plainJSON)
        content.update(data: [0])
        content.update(data: sensitiveJSON)
        return ProtectedRecord(
            plainJSON: plainJSON,
            sensitive: sensitiveKeys.isEmpty ? nil : try sealing.seal(sensitiveJSON, row: row),
            keyVersion: keyVersion, blindIndex: digests, contentHash: Array(content.finalize())
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
