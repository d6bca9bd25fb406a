import Crypto
import Foundation
import HubCore
import HubCrypto
@testable import HubKMS
import Synchronization
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

    /// Web identity credentials (EKS, ECS): the token file's JWT goes to STS unsigned, the
    /// answer's temporary credentials sign the KMS calls, and they are renewed (reading the
    /// rotated token file again) once within five minutes of expiring. STS here is a local fake
    /// answering as AWS does (moto's STS fails with IAM authentication on), with credentials
    /// that moto's KMS accepts.
    @Test func webIdentityCredentialsComeFromSTSAndAreRenewed() async throws {
        try await FakeKMS.with { fake in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("web-identity-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: root) }
            let tokenFile = root.appendingPathComponent("token").path
            try "token-one\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            // The first answer expires in two minutes (renewed before its next use), later ones in
            // ten (kept).
            let answers = Mutex(0)
            let sts = FakeAPIServer { request in
                let expires = answers.withLock { count in count += 1; return count == 1 } ? 120.0 : 600.0
                let expiration = Date().addingTimeInterval(expires).formatted(.iso8601)
                return .init(status: 200, body: Array("""
                    <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
                      <AssumeRoleWithWebIdentityResult><Credentials>
                        <AccessKeyId>\(fake.roleAccessKeyID)</AccessKeyId><SecretAccessKey>\(fake.roleSecretAccessKey)</SecretAccessKey>
                        <SessionToken>\(xmlEscaped(fake.roleSessionToken))</SessionToken><Expiration>\(expiration)</Expiration>
                      </Credentials></AssumeRoleWithWebIdentityResult>
                    </AssumeRoleWithWebIdentityResponse>
                    """.utf8))
            }
            try await sts.withRunning { base in
                let environment = ["AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": fake.roleARN,
                                   "AWS_ROLE_SESSION_NAME": "worker 1"]
                let credentials = try AWSCredentialProvider.fromEnvironment(environment, region: fake.region, stsEndpoint: URL(string: base))
                let client = try AWSKMSClient(region: fake.region, endpoint: fake.endpoint, credentials: credentials)
                let kek = try AWSKMSKeyEncryptionKey(client: client, keyReference: fake.alias)
                let tenant = TenantID()
                let (key, wrapped) = try await kek.generateDataKey(tenant: tenant, label: "data v1")
                #expect(sts.requests.count == 1)
                try "token-two\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
                #expect(try await kek.unwrap(wrapped, tenant: tenant, label: "data v1").withUnsafeBytes { Array($0) } == key.withUnsafeBytes { Array($0) })
                #expect(sts.requests.count == 2, "credentials within five minutes of expiry are renewed before use")
                for _ in 0..<2 { _ = try await kek.generateDataKey(tenant: tenant, label: "data v2") }
                let requests = sts.requests
                #expect(requests.count == 2, "credentials valid for ten minutes are kept")
                let forms = requests.map { String(decoding: $0.body, as: UTF8.self) }
                #expect(forms.first?.contains("WebIdentityToken=token-one") == true)
                #expect(forms.last?.contains("WebIdentityToken=token-two") == true, "the rotated token file is read again")
                for (request, form) in zip(requests, forms) {
                    #expect(request.header("Authorization") == nil, "the exchange is not signed")
                    #expect(form.contains("Action=AssumeRoleWithWebIdentity") && form.contains("Version=2011-06-15"))
                    #expect(form.contains("RoleArn=" + fake.roleARN.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: "/", with: "%2F")))
                    #expect(form.contains("RoleSessionName=worker%201"))
                }
            }
            // A refusal names STS's error code, never the token.
            let refusing = FakeAPIServer { _ in
                .init(status: 403, body: Array("<ErrorResponse><Error><Code>InvalidIdentityToken</Code></Error></ErrorResponse>".utf8))
            }
            try await refusing.withRunning { base in
                let credentials = try AWSCredentialProvider.fromEnvironment(
                    ["AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r"], region: fake.region, stsEndpoint: URL(string: base)
                )
                let kek = try AWSKMSKeyEncryptionKey(client: AWSKMSClient(region: fake.region, endpoint: fake.endpoint, credentials: credentials), keyReference: fake.alias)
                let refused = await #expect(throws: HubError.self) { try await kek.generateDataKey(tenant: TenantID(), label: "data v1") }
                #expect(refused?.message.contains("InvalidIdentityToken") == true, "\(String(describing: refused))")
                #expect(refused.map { !String(describing: $0).contains("token-two") } == true)
            }
        }
    }

    /// Credentials from the container endpoint, as EKS Pod Identity (and, on its fixed address,
    /// ECS) serves them: a GET with the token file's value as Authorization, JSON back, kept
    /// until five minutes before they expire. A plain-HTTP endpoint elsewhere is refused.
    @Test func containerCredentialsSignKMSCalls() async throws {
        try await FakeKMS.with { fake in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("container-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: root) }
            let tokenFile = root.appendingPathComponent("token").path
            try "pod-identity-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let agent = FakeAPIServer { request in
                guard request.header("Authorization") == "pod-identity-token" else { return .json(#"{"message":"denied"}"#, status: 403) }
                return .json("""
                    {"AccessKeyId": "\(fake.roleAccessKeyID)", "SecretAccessKey": "\(fake.roleSecretAccessKey)",
                     "Token": "\(fake.roleSessionToken)", "Expiration": "\(Date().addingTimeInterval(3600).formatted(.iso8601))"}
                    """)
            }
            try await agent.withRunning { base in
                let environment = ["AWS_CONTAINER_CREDENTIALS_FULL_URI": base + "/v1/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile]
                let credentials = try AWSCredentialProvider.fromEnvironment(environment, region: fake.region)
                let kek = try AWSKMSKeyEncryptionKey(client: AWSKMSClient(region: fake.region, endpoint: fake.endpoint, credentials: credentials),
                                                     keyReference: fake.alias)
                let tenant = TenantID()
                let (key, wrapped) = try await kek.generateDataKey(tenant: tenant, label: "data v1")
                #expect(try await kek.unwrap(wrapped, tenant: tenant, label: "data v1").withUnsafeBytes { Array($0) } == key.withUnsafeBytes { Array($0) })
                #expect(agent.requests.count == 1, "credentials valid for an hour are kept")
                #expect(agent.requests.first?.method == "GET" && agent.requests.first?.path == "/v1/credentials")
            }
            #expect(throws: HubError.self) {
                try AWSCredentialProvider.fromEnvironment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://credentials.example.com/"], region: fake.region)
            }
            // ECS's relative form always means the link-local agent.
            let ecs = try AWSCredentialProvider.fromEnvironment(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"], region: fake.region)
            guard case .container(let container) = ecs.source else { Issue.record("not container credentials"); return }
            #expect(container.endpoint.absoluteString == "http://169.254.170.2/v2/credentials/abc")
        }
    }

    /// A KMS endpoint that redirects is refused, not followed: a 307 would carry the request's
    /// body (a data key being wrapped) and its session token to wherever it points.
    @Test func aRedirectingEndpointIsNotFollowed() async throws {
        let elsewhere = FakeAPIServer { _ in .json("{}") }
        try await elsewhere.withRunning { target in
            let redirecting = FakeAPIServer { _ in .init(status: 307, body: [], headers: [("Location", target + "/steal")]) }
            try await redirecting.withRunning { base in
                let credentials = try AWSCredentialProvider.fromEnvironment(
                    ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "session-token"], region: "eu-west-1"
                )
                let kek = try AWSKMSKeyEncryptionKey(client: AWSKMSClient(region: "eu-west-1", endpoint: URL(string: base), credentials: credentials),
                                                     keyReference: "alias/k")
                let refused = await #expect(throws: HubError.self) { try await kek.wrap(SymmetricKey(size: .bits256), tenant: TenantID(), label: "data v1") }
                #expect(refused?.message.contains("HTTP 307") == true, "\(String(describing: refused))")
                #expect(redirecting.requests.count == 1)
                #expect(elsewhere.requests.isEmpty, "the redirect was followed")
            }
        }
    }

    /// As an XML text node carries it (a session token may hold `&`, `<` or `>` after base64 and `+`).
    func xmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
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
