import Crypto
import Foundation
import HubCore
import Synchronization
@testable import HubCrypto
import Testing
import TributaryTestSupport

@Suite("Key-encryption keys and the keyring")
struct KeyringTests {
    func kek() -> LocalKeyEncryptionKey {
        try! LocalKeyEncryptionKey(base64: LocalKeyEncryptionKey.generateBase64(), source: "test")
    }

    @Test func theMemoryRepositoryKeepsTheContract() async throws {
        let failures = try await DataKeyRepositoryContract.check(MemoryDataKeyRepository(), tenant: TenantID())
        #expect(failures.isEmpty, "\(failures)")
    }

    /// Another process shreds the tenant (or retires a version): this process's caches must
    /// stop handing out the key within their lifetime, not at its next restart.
    @Test func cachedKeysExpireWhenAnotherProcessDestroysThem() async throws {
        let repository = MemoryDataKeyRepository()
        let tenant = TenantID()
        let keyring = Keyring(kek: kek(), repository: repository, activeVersionTTL: .milliseconds(300))
        _ = try await keyring.encryptionKey(for: tenant)
        _ = try await keyring.indexKey(for: tenant)
        _ = try await keyring.decryptionKey(for: tenant, version: 1)
        // Elsewhere: every key of the tenant is shredded, the material erased.
        repository.tamper { keys in
            keys.map { WrappedDataKey(tenant: $0.tenant, purpose: $0.purpose, version: $0.version, wrapped: nil, kekID: $0.kekID, state: .shredded) }
        }
        try await Task.sleep(for: .milliseconds(400))
        await #expect(throws: HubError.self) { try await keyring.decryptionKey(for: tenant, version: 1) }
        await #expect(throws: HubError.self) { try await keyring.indexKey(for: tenant) }
        await #expect(throws: HubError.self) { try await keyring.encryptionKey(for: tenant) }
        // No configuration keeps a key longer than the retirement rule allows for.
        let lax = Keyring(kek: kek(), repository: repository, activeVersionTTL: .seconds(3600))
        #expect(lax.activeVersionTTL == Keyring.maximumCacheLifetime)
    }

    /// A KEK that counts its unwraps, as a KMS bills its Decrypt calls.
    final class CountingKEK: KeyEncryptionKeyProvider {
        let inner: LocalKeyEncryptionKey
        let unwraps = Mutex(0)
        init(inner: LocalKeyEncryptionKey) { self.inner = inner }
        var keyID: String { inner.keyID }
        func wrap(_ dataKey: SymmetricKey, tenant: TenantID, label: String) async throws -> [UInt8] {
            try await inner.wrap(dataKey, tenant: tenant, label: label)
        }
        func unwrap(_ wrapped: [UInt8], tenant: TenantID, label: String) async throws -> SymmetricKey {
            unwraps.withLock { $0 += 1 }
            return try await inner.unwrap(wrapped, tenant: tenant, label: label)
        }
    }

    /// A key this process just made is used without unwrapping its stored copy; a key made
    /// elsewhere is unwrapped once, then served from memory.
    @Test func aNewKeyIsUsedWithoutAnUnwrap() async throws {
        let repository = MemoryDataKeyRepository()
        let tenant = TenantID()
        let counting = CountingKEK(inner: kek())
        let keyring = Keyring(kek: counting, repository: repository)
        let sealing = try await keyring.encryptionKey(for: tenant)
        _ = try await keyring.indexKey(for: tenant)
        _ = try await keyring.decryptionKey(for: tenant, version: 1)
        #expect(counting.unwraps.withLock { $0 } == 0)
        let other = Keyring(kek: counting, repository: repository)
        let opened = try await other.decryptionKey(for: tenant, version: 1)
        _ = try await other.decryptionKey(for: tenant, version: 1)
        #expect(counting.unwraps.withLock { $0 } == 1)
        // The same key: their subkeys agree.
        let field = "records.sensitive"
        #expect(opened.subkey(.encryption, field: field).withUnsafeBytes { Array($0) } == sealing.subkey(.encryption, field: field).withUnsafeBytes { Array($0) })
    }

    @Test func badKeyMaterialIsRefusedWithoutEchoingIt() {
        let notBase64 = #expect(throws: HubError.self) {
            try LocalKeyEncryptionKey(base64: Secret("not*base64*MARKER"), source: "TRIBUTARY_MASTER_KEY")
        }
        #expect(notBase64?.message.contains("TRIBUTARY_MASTER_KEY is not base64") == true)
        #expect(notBase64?.message.contains("MARKER") == false)
        let short = #expect(throws: HubError.self) {
            try LocalKeyEncryptionKey(base64: Secret(Data(repeating: 7, count: 16).base64EncodedString()), source: "K")
        }
        #expect(short?.message.contains("32 bytes") == true)
    }

    @Test func aKeyFileOthersCanReadIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kek-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try LocalKeyEncryptionKey.generateBase64().revealed.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        let error = #expect(throws: HubError.self) { try LocalKeyEncryptionKey(contentsOfFile: path) }
        #expect(error?.message.contains("chmod 600") == true)
        chmod(path, 0o600)
        #expect(throws: Never.self) { try LocalKeyEncryptionKey(contentsOfFile: path) }
        // Not a key file: a folder, a device, a huge file. Each refused, none read into memory.
        let folder = #expect(throws: HubError.self) { try LocalKeyEncryptionKey(contentsOfFile: FileManager.default.temporaryDirectory.path) }
        #expect(folder?.message.contains("not a regular file") == true)
        #expect(throws: HubError.self) { try LocalKeyEncryptionKey(contentsOfFile: "/dev/zero") }
        try Data(repeating: 0x41, count: 1 << 20).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        let huge = #expect(throws: HubError.self) { try LocalKeyEncryptionKey(contentsOfFile: path) }
        #expect(huge?.message.contains("1048576 bytes") == true)
    }

    @Test func theWrongKeyEncryptionKeyFailsClearly() async throws {
        let tenant = TenantID()
        let right = kek()
        let wrong = kek()
        #expect(right.keyID != wrong.keyID)
        #expect(right.keyID.count == 16)
        let material = SymmetricKey(size: .bits256)
        let wrapped = try await right.wrap(material, tenant: tenant, label: "data v1")
        let error = await #expect(throws: HubError.self) { try await wrong.unwrap(wrapped, tenant: tenant, label: "data v1") }
        #expect(error?.code == .keyUnavailable)
        #expect(error?.message.contains(wrong.keyID) == true)
        // The wrapping is bound to tenant and label: a wrapped key can't be moved either.
        await #expect(throws: HubError.self) { try await right.unwrap(wrapped, tenant: TenantID(), label: "data v1") }
        await #expect(throws: HubError.self) { try await right.unwrap(wrapped, tenant: tenant, label: "data v2") }
        let unwrapped = try await right.unwrap(wrapped, tenant: tenant, label: "data v1")
        #expect(unwrapped == material)
    }

    @Test func aKeyringWithTheWrongKEKNamesBothKeys() async throws {
        let repository = MemoryDataKeyRepository()
        let tenant = TenantID()
        let original = Keyring(kek: kek(), repository: repository)
        _ = try await original.encryptionKey(for: tenant)
        let other = kek()
        let error = await #expect(throws: HubError.self) {
            try await Keyring(kek: other, repository: repository).encryptionKey(for: tenant)
        }
        #expect(error?.message.contains(original.kek.keyID) == true)
        #expect(error?.message.contains(other.keyID) == true)
    }

    @Test func rotationAddsVersionsAndOldOnesStillDecrypt() async throws {
        let keyring = Keyring(kek: kek(), repository: MemoryDataKeyRepository(), capacity: 2)
        let tenant = TenantID()
        let context = EncryptionContext(tenant: tenant, table: "t", column: "c", row: "1")
        let first = try await keyring.encryptionKey(for: tenant)
        #expect(first.version == 1)
        let sealedV1 = try Envelope.seal(Array("v1".utf8), with: first, context: context)
        #expect(try await keyring.rotate(tenant) == 2)
        #expect(try await keyring.rotate(tenant) == 3)
        let newest = try await keyring.encryptionKey(for: tenant)
        #expect(newest.version == 3)
        // Capacity 2 forces unwrapping again from storage: same key either way.
        let reopened = try await keyring.decryptionKey(for: tenant, version: Envelope.keyVersion(of: sealedV1))
        #expect(try Envelope.open(sealedV1, with: reopened, context: context).revealed == Array("v1".utf8))
        let index = try await keyring.indexKey(for: tenant)
        #expect(index.version == 1)
        await #expect(throws: HubError.self) { try await keyring.decryptionKey(for: tenant, version: 9) }
    }

    @Test func aTamperedWrappedKeyIsRejected() async throws {
        let repository = MemoryDataKeyRepository()
        let tenant = TenantID()
        let key = kek()
        _ = try await Keyring(kek: key, repository: repository).encryptionKey(for: tenant)
        repository.tamper { keys in
            keys.map {
                var bytes = $0.wrapped ?? []
                bytes[bytes.count / 2] ^= 1
                return WrappedDataKey(tenant: $0.tenant, purpose: $0.purpose, version: $0.version, wrapped: bytes, kekID: $0.kekID, state: $0.state)
            }
        }
        let error = await #expect(throws: HubError.self) { try await Keyring(kek: key, repository: repository).encryptionKey(for: tenant) }
        #expect(error?.code == .keyUnavailable)
    }
}
