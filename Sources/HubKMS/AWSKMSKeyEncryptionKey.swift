import Crypto
import Foundation
import HubCore
import HubCrypto
import Synchronization

/// A key-encryption key that never leaves AWS KMS: tenant keys are created by
/// `GenerateDataKey` and opened by `Decrypt`, each call bound to the tenant and the key's
/// purpose and version through KMS's encryption context (so a wrapped key moved to another
/// tenant, purpose or version is refused by KMS itself, and CloudTrail logs which tenant's key
/// was opened). `Keyring` keeps what it unwraps in memory, so a process calls `Decrypt` once
/// per tenant key, not per record.
public struct AWSKMSKeyEncryptionKey: KeyEncryptionKeyProvider {
    public let client: AWSKMSClient
    /// A key id, key ARN, alias name (`alias/…`) or alias ARN.
    public let keyReference: String
    public let keyID: String
    /// The ARN `keyReference` resolves to, asked of KMS once (`DescribeKey`) and kept.
    private let resolvedARN = ResolvedARN()

    /// A class so that copies of the provider share what was resolved.
    final class ResolvedARN: Sendable {
        let value = Mutex<String?>(nil)
    }

    public init(client: AWSKMSClient, keyReference: String) throws {
        guard !keyReference.isEmpty, keyReference.count <= 2048, !keyReference.contains(where: \.isWhitespace) else {
            throw HubError(.invalidConfiguration, "TRIBUTARY_KMS_KEY_ID must be a KMS key id, key ARN or alias (alias/NAME), without spaces")
        }
        self.client = client
        self.keyReference = keyReference
        // Stored beside each wrapped key: names the KMS key (not secret) and its region, so a
        // key wrapped elsewhere is diagnosed by name.
        self.keyID = "aws-kms:\(client.region):\(keyReference)"
    }

    static func context(tenant: TenantID, label: String) -> [String: String] {
        ["tributary:tenant": tenant.description, "tributary:key": label]
    }

    public func wrap(_ dataKey: SymmetricKey, tenant: TenantID, label: String) async throws -> [UInt8] {
        let plaintext = dataKey.withUnsafeBytes { Data($0) }.base64EncodedString()
        let answer = try await client.call("Encrypt", ["KeyId": keyReference, "Plaintext": plaintext,
                                                       "EncryptionContext": Self.context(tenant: tenant, label: label)])
        return try AWSKMSClient.bytes(answer, "CiphertextBlob", operation: "Encrypt")
    }

    public func unwrap(_ wrapped: [UInt8], tenant: TenantID, label: String) async throws -> SymmetricKey {
        // KeyId pins the key: KMS refuses a ciphertext of any other key instead of opening it.
        let answer = try await client.call("Decrypt", ["KeyId": keyReference, "CiphertextBlob": Data(wrapped).base64EncodedString(),
                                                       "EncryptionContext": Self.context(tenant: tenant, label: label)])
        // AWS refuses a ciphertext of another key when KeyId is given; a KMS-compatible server
        // may not (moto opens it), so the answer's key is checked here too.
        let expected = try await keyARN()
        guard let used = answer["KeyId"] as? String, used == expected else {
            throw HubError(.keyUnavailable, "AWS KMS Decrypt opened the key with \((answer["KeyId"] as? String) ?? "an unnamed key"), not \(expected): "
                           + "this tenant key was wrapped by another KMS key")
        }
        let plaintext = try AWSKMSClient.bytes(answer, "Plaintext", operation: "Decrypt")
        guard plaintext.count == 32 else { throw HubError(.decryptionFailed, "AWS KMS Decrypt returned a key of \(plaintext.count) bytes, not 32") }
        return SymmetricKey(data: plaintext)
    }

    /// The key's ARN, whatever form `keyReference` takes.
    func keyARN() async throws -> String {
        if let known = resolvedARN.value.withLock({ $0 }) { return known }
        let answer = try await client.call("DescribeKey", ["KeyId": keyReference])
        guard let metadata = answer["KeyMetadata"] as? [String: Any], let arn = metadata["Arn"] as? String else {
            throw HubError(.keyUnavailable, "AWS KMS DescribeKey answered without the key's ARN")
        }
        resolvedARN.value.withLock { $0 = arn }
        return arn
    }

    public func generateDataKey(tenant: TenantID, label: String) async throws -> (key: SymmetricKey, wrapped: [UInt8]) {
        let answer = try await client.call("GenerateDataKey", ["KeyId": keyReference, "KeySpec": "AES_256",
                                                               "EncryptionContext": Self.context(tenant: tenant, label: label)])
        let plaintext = try AWSKMSClient.bytes(answer, "Plaintext", operation: "GenerateDataKey")
        guard plaintext.count == 32 else { throw HubError(.keyUnavailable, "AWS KMS GenerateDataKey returned a key of \(plaintext.count) bytes, not 32") }
        return (SymmetricKey(data: plaintext), try AWSKMSClient.bytes(answer, "CiphertextBlob", operation: "GenerateDataKey"))
    }
}
