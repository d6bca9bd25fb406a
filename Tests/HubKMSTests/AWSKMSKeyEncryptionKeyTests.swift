import Crypto
import Foundation
import HubCore
import HubCrypto
@testable import HubKMS
import Testing
import TributaryTestSupport

/// The KMS key-encryption key against moto with IAM authentication on, so a wrong signature
/// fails exactly as it would at AWS.
@Suite("AWS KMS key-encryption key")
struct AWSKMSKeyEncryptionKeyTests {
    static func kek(_ fake: FakeKMS, key: String? = nil, accessKey: String? = nil, secret: String? = nil) throws -> AWSKMSKeyEncryptionKey {
        let credentials = try AWSCredentialProvider.fromEnvironment(
            ["AWS_ACCESS_KEY_ID": accessKey ?? fake.accessKeyID, "AWS_SECRET_ACCESS_KEY": secret ?? fake.secretAccessKey], region: fake.region
        )
        let client = try AWSKMSClient(region: fake.region, endpoint: fake.endpoint, credentials: credentials, timeout: .seconds(10))
        return try AWSKMSKeyEncryptionKey(client: client, keyReference: key ?? fake.alias)
    }

    /// AWS's published Signature Version 4 example ("get-vanilla" of the SigV4 test suite).
    @Test func signatureV4MatchesAWSsExample() throws {
        let signer = SignatureV4(region: "us-east-1", service: "service")
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))
        let date = try #require(ISO8601DateFormatter().date(from: "2015-08-30T12:36:00Z"))
        let headers = signer.sign(method: "GET", url: try #require(URL(string: "https://example.amazonaws.com/")), headers: [], body: [],
                                  credentials: credentials, date: date)
        let authorization = headers.first { $0.0 == "authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func keysMadeByKMSOpenOnlyForTheirTenantAndLabel() async throws {
        try await FakeKMS.with { fake in
            let kek = try Self.kek(fake)
            let tenant = TenantID(), other = TenantID()
            let (key, wrapped) = try await kek.generateDataKey(tenant: tenant, label: "data/v1")
            let opened = try await kek.unwrap(wrapped, tenant: tenant, label: "data/v1")
            #expect(opened.withUnsafeBytes { Array($0) } == key.withUnsafeBytes { Array($0) })
            // By key id or ARN, the same key opens it; a wrapped key moved elsewhere does not.
            let byARN = try Self.kek(fake, key: fake.keyARN)
            #expect(try await byARN.unwrap(wrapped, tenant: tenant, label: "data/v1").withUnsafeBytes { Array($0) } == key.withUnsafeBytes { Array($0) })
            for (tenant, label) in [(other, "data/v1"), (tenant, "data/v2"), (tenant, "index/v1")] {
                let refused = await #expect(throws: HubError.self) { try await kek.unwrap(wrapped, tenant: tenant, label: label) }
                #expect(refused?.message.contains("InvalidCiphertextException") == true, "\(String(describing: refused))")
            }
            // Pinned to its key: another KMS key of the account does not open it.
            let pinned = await #expect(throws: HubError.self) { try await Self.kek(fake, key: fake.otherKeyID).unwrap(wrapped, tenant: tenant, label: "data/v1") }
            #expect(pinned?.code == .keyUnavailable)
            // A key made here and wrapped by KMS round-trips too.
            let local = SymmetricKey(size: .bits256)
            let sealed = try await kek.wrap(local, tenant: tenant, label: "data/v3")
            #expect(try await kek.unwrap(sealed, tenant: tenant, label: "data/v3").withUnsafeBytes { Array($0) } == local.withUnsafeBytes { Array($0) })
        }
    }

    @Test func aWrongSignatureOrAnUnauthorizedUserIsRefusedWithoutShowingSecrets() async throws {
        try await FakeKMS.with { fake in
            let tenant = TenantID()
            let wrongSecret = "not-the-secret-\(UUID().uuidString)"
            let forged = await #expect(throws: HubError.self) {
                try await Self.kek(fake, secret: wrongSecret).generateDataKey(tenant: tenant, label: "data/v1")
            }
            let denied = await #expect(throws: HubError.self) {
                try await Self.kek(fake, accessKey: fake.deniedAccessKeyID, secret: fake.deniedSecretAccessKey).generateDataKey(tenant: tenant, label: "data/v1")
            }
            for error in [forged, denied] {
                let text = String(describing: error)
                #expect(text.contains("AWS KMS GenerateDataKey refused"), "\(text)")
                #expect(!text.contains(wrongSecret) && !text.contains(fake.secretAccessKey) && !text.contains(fake.deniedSecretAccessKey))
            }
        }
    }

    @Test func configurationMistakesAreNamed() throws {
        #expect(throws: HubError.self) { try AWSCredentialProvider.fromEnvironment([:], region: "eu-west-1") }
        let half = #expect(throws: HubError.self) { try AWSCredentialProvider.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKID"], region: "eu-west-1") }
        #expect(half?.message.contains("AWS_SECRET_ACCESS_KEY") == true)
        let credentials = try AWSCredentialProvider.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"], region: "eu-west-1")
        let plain = #expect(throws: HubError.self) {
            try AWSKMSClient(region: "eu-west-1", endpoint: URL(string: "http://kms.example.com/"), credentials: credentials)
        }
        #expect(plain?.message.contains("https") == true)
        #expect(throws: HubError.self) { try AWSKMSClient(region: "eu west 1", credentials: credentials) }
        let client = try AWSKMSClient(region: "eu-west-1", credentials: credentials)
        #expect(client.endpoint.absoluteString == "https://kms.eu-west-1.amazonaws.com/")
        #expect(throws: HubError.self) { try AWSKMSKeyEncryptionKey(client: client, keyReference: "alias/has space") }
    }
}
