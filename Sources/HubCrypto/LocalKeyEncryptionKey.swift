import Crypto
import Foundation
import HubCore

/// A key-encryption key held in this process: 32 random bytes, base64, from
/// `TRIBUTARY_MASTER_KEY` or a key file. Wraps data keys with AES-256-GCM, the tenant and
/// key's purpose and version bound in as associated data.
public struct LocalKeyEncryptionKey: KeyEncryptionKeyProvider {
    private let key: SymmetricKey
    public let keyID: String

    /// Parses base64 key material; the error says what is wrong and never repeats the input.
    public init(base64: Secret<String>, source: String) throws {
        let text = base64.revealed.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: text) else {
            throw HubError(.keyUnavailable, "\(source) is not base64; create a key with `tributary keys init`")
        }
        guard bytes.count == 32 else {
            throw HubError(.keyUnavailable, "\(source) must hold 32 bytes of base64, it holds \(bytes.count)")
        }
        self.init(key: SymmetricKey(data: bytes))
    }

    init(key: SymmetricKey) {
        self.key = key
        let tag = HMAC<SHA256>.authenticationCode(for: Array("tributary/kek-id/v1".utf8), using: key)
        self.keyID = Array(tag).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Reads a key file, refusing one that other users may read. The file is opened once and
    /// the checks are made on that descriptor (`fstat`), so it cannot be swapped for another
    /// between the check and the read.
    public init(contentsOfFile path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HubError(.keyUnavailable, "cannot read the master key file \(path)") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw HubError(.keyUnavailable, "the master key file \(path) is not a regular file")
        }
        let mode = Int(status.st_mode & 0o7777)
        if mode & 0o077 != 0 {
            throw HubError(
                .keyUnavailable,
                "the master key file \(path) is readable by other users (mode \(String(mode, radix: 8))); run `chmod 600 \(path)`"
            )
        }
        // 32 bytes of base64 and a newline; anything far larger is not a key file.
        let limit = 4096
        guard status.st_size <= limit else {
            throw HubError(.keyUnavailable, "the master key file \(path) is \(status.st_size) bytes; a key file holds 44 characters of base64")
        }
        var bytes = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let count = bytes.withUnsafeMutableBytes { raw in read(descriptor, raw.baseAddress.map { $0 + filled }, limit - filled) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw HubError(.keyUnavailable, "cannot read the master key file \(path)") }
            if count == 0 { break }
            filled += count
        }
        try self.init(base64: Secret(String(decoding: bytes.prefix(filled), as: UTF8.self)), source: "the master key file \(path)")
    }

    /// A new random key, base64-encoded, for `tributary keys init`.
    public static func generateBase64() -> Secret<String> {
        Secret(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() })
    }

    public func wrap(_ dataKey: SymmetricKey, tenant: TenantID, label: String) async throws -> [UInt8] {
        let material = dataKey.withUnsafeBytes { Array($0) }
        do {
            let box = try AES.GCM.seal(material, using: key, authenticating: Self.context(tenant, label))
            guard let combined = box.combined else { throw HubError(.internalError, "AES-GCM produced no combined output") }
            return Array(combined)
        } catch let error as HubError {
            throw error
        } catch {
            throw HubError(.internalError, "cannot wrap \(label) key of tenant \(tenant)")
        }
    }

    public func unwrap(_ wrapped: [UInt8], tenant: TenantID, label: String) async throws -> SymmetricKey {
        do {
            let box = try AES.GCM.SealedBox(combined: wrapped)
            return SymmetricKey(data: try AES.GCM.open(box, using: key, authenticating: Self.context(tenant, label)))
        } catch {
            throw HubError(
                .keyUnavailable,
                "cannot unwrap the \(label) key of tenant \(tenant) with key-encryption key \(keyID): it was wrapped by another key, or altered"
            )
        }
    }

    /// Binds a wrapped key to its tenant and label: swapping two rows' wrapped keys fails.
    private static func context(_ tenant: TenantID, _ label: String) -> [UInt8] {
        Array("tributary/dek/v1|\(tenant)|\(label)".utf8)
    }
}
