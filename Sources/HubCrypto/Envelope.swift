import Crypto
import Foundation
import HubCore

/// Tributary's ciphertext format, version 1 (docs/encryption.md):
///
///     offset  size  field
///     0       1     format version, 0x01
///     1       4     data key version, big-endian
///     5       12    AES-GCM nonce (random)
///     17      n     AES-256-GCM ciphertext
///     17+n    16    GCM tag
///
/// The associated data is the `EncryptionContext` (length-prefixed parts) followed by the 5
/// header bytes, so neither the header nor the ciphertext's place can change without the
/// tag failing.
public enum Envelope {
    static let formatVersion: UInt8 = 1
    static let headerSize = 5
    static let overhead = headerSize + 12 + 16

    public static func seal(_ plaintext: some DataProtocol, with key: DataKey, context: EncryptionContext) throws -> [UInt8] {
        try SealingKey(key: key, tenant: context.tenant, table: context.table, column: context.column)
            .seal(plaintext, row: context.row)
    }

    /// The data key version a ciphertext was sealed with, read from its header.
    public static func keyVersion(of ciphertext: [UInt8]) throws -> Int {
        guard ciphertext.count >= overhead, ciphertext[0] == formatVersion else {
            throw HubError(.decryptionFailed, "not a Tributary ciphertext (unknown format or too short)")
        }
        return Int(UInt32(ciphertext[1]) << 24 | UInt32(ciphertext[2]) << 16 | UInt32(ciphertext[3]) << 8 | UInt32(ciphertext[4]))
    }

    /// Opens a ciphertext sealed for exactly this context. Any change to it, or a different
    /// context, fails with `.decryptionFailed` and yields no plaintext at all.
    public static func open(_ ciphertext: [UInt8], with key: DataKey, context: EncryptionContext) throws -> Secret<[UInt8]> {
        let version = try keyVersion(of: ciphertext)
        guard version == key.version else {
            throw HubError(.decryptionFailed, "\(context.field) of row \(context.row) was sealed with key v\(version), not v\(key.version)")
        }
        do {
            let nonce = try AES.GCM.Nonce(data: ciphertext[headerSize..<(headerSize + 12)])
            let box = try AES.GCM.SealedBox(
                nonce: nonce, ciphertext: ciphertext[(headerSize + 12)..<(ciphertext.count - 16)],
                tag: ciphertext[(ciphertext.count - 16)...]
            )
            let plaintext = try AES.GCM.open(
                box, using: key.subkey(.encryption, field: context.field),
                authenticating: context.associatedData(header: ciphertext[0..<headerSize])
            )
            return Secret(Array(plaintext))
        } catch {
            throw HubError(
                .decryptionFailed,
                "cannot decrypt \(context.field) of row \(context.row): the ciphertext was altered or belongs to another row, field or tenant"
            )
        }
    }
}

/// A data key prepared for sealing many rows of one column: the subkey derived and the
/// associated data's constant part encoded once.
struct SealingKey: Sendable {
    let version: Int
    let subkey: SymmetricKey
    let prefix: [UInt8]
    let field: String

    init(key: DataKey, tenant: TenantID, table: String, column: String) {
        version = key.version
        field = "\(table).\(column)"
        subkey = key.subkey(.encryption, field: field)
        prefix = EncryptionContext.prefix(tenant: tenant, table: table, column: column)
    }

    func seal(_ plaintext: some DataProtocol, row: String) throws -> [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(plaintext.count + Envelope.overhead)
        let v = UInt32(version)
        output += [Envelope.formatVersion, UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        let nonce = NonceSource.shared.next()
        let box: AES.GCM.SealedBox
        do {
            box = try AES.GCM.seal(
                plaintext, using: subkey, nonce: nonce,
                authenticating: EncryptionContext.associatedData(prefix: prefix, row: row, header: output[...])
            )
        } catch {
            throw HubError(.internalError, "cannot encrypt \(field)")
        }
        output += nonce
        output += box.ciphertext
        output += box.tag
        return output
    }
}
