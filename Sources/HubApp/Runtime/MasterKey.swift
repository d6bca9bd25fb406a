import Foundation
import HubCore
import HubCrypto
import HubKMS

#if canImport(Glibc)
import Glibc
#endif

/// Finds the configured key-encryption key, and writes new ones.
public enum MasterKey {
    /// Where `tributary dev` keeps its key when none is configured.
    public static func defaultFile(_ configuration: HubConfiguration) -> String {
        configuration.dataDirectory + "/master.key"
    }

    /// The current key (in AWS KMS when `TRIBUTARY_KMS_KEY_ID` names one, else `current(_:)`),
    /// with the previous ones of a rotation in progress (TRIBUTARY_PREVIOUS_MASTER_KEY_FILES)
    /// when any are configured: so `tributary keys rewrap` moves keys from a file to KMS.
    public static func load(_ configuration: HubConfiguration, createIfMissing: Bool = false,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any KeyEncryptionKeyProvider {
        let current: any KeyEncryptionKeyProvider
        if let kms = configuration.kms {
            let credentials = try AWSCredentialProvider.fromEnvironment(environment, region: kms.region, stsEndpoint: kms.stsEndpoint)
            if let sts = kms.stsEndpoint { try AWSKMSClient.checkEndpoint(sts, variable: "TRIBUTARY_STS_ENDPOINT") }
            let client = try AWSKMSClient(region: kms.region, endpoint: kms.endpoint, credentials: credentials)
            current = try AWSKMSKeyEncryptionKey(client: client, keyReference: kms.keyID)
        } else {
            current = try self.current(configuration, createIfMissing: createIfMissing)
        }
        guard !configuration.previousMasterKeyFiles.isEmpty else { return current }
        return try KeyEncryptionKeyRing(current: current,
                                        previous: configuration.previousMasterKeyFiles.map(LocalKeyEncryptionKey.init(contentsOfFile:)))
    }

    /// TRIBUTARY_MASTER_KEY, else TRIBUTARY_MASTER_KEY_FILE, else — with the embedded database
    /// only — the data folder's `master.key`, created first when `createIfMissing`.
    public static func current(_ configuration: HubConfiguration, createIfMissing: Bool = false) throws -> LocalKeyEncryptionKey {
        if let key = configuration.masterKey {
            return try LocalKeyEncryptionKey(base64: key, source: "TRIBUTARY_MASTER_KEY")
        }
        if let file = configuration.masterKeyFile {
            return try LocalKeyEncryptionKey(contentsOfFile: file)
        }
        guard configuration.databaseURL == nil else {
            throw HubError(
                .keyUnavailable,
                "no key-encryption key configured: set TRIBUTARY_MASTER_KEY_FILE (create one with `tributary keys init --file PATH`)"
            )
        }
        let file = defaultFile(configuration)
        if !FileManager.default.fileExists(atPath: file) {
            guard createIfMissing else {
                throw HubError(.keyUnavailable, "no key-encryption key at \(file): run `tributary keys init` or `tributary dev` first")
            }
            return try write(to: file, force: false)
        }
        return try LocalKeyEncryptionKey(contentsOfFile: file)
    }

    /// Writes a new random key to `path`, readable by its owner only. Refuses to replace an
    /// existing key unless `force`: data sealed under the old key would be lost with it.
    public static func write(to path: String, force: Bool) throws -> LocalKeyEncryptionKey {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: path) {
            guard force else {
                throw HubError(
                    .conflict,
                    "\(path) already holds a key; replacing it makes everything encrypted under it unreadable (use --force only if that is what you want)"
                )
            }
            unlink(path)
        }
        let encoded = LocalKeyEncryptionKey.generateBase64()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw HubError(.keyUnavailable, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array((encoded.revealed + "\n").utf8)
        guard Glibc.write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw HubError(.keyUnavailable, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return try LocalKeyEncryptionKey(base64: encoded, source: path)
    }
}
