import Foundation
import HubCore

/// One set of AWS credentials. The secret parts are `Secret`s, so no log line, error or
/// `print` shows them.
public struct AWSCredentials: Sendable {
    public let accessKeyID: String
    public let secretAccessKey: Secret<String>
    public let sessionToken: Secret<String>?
    /// When temporary credentials stop working; nil for long-lived keys.
    public let expiration: Date?

    public init(accessKeyID: String, secretAccessKey: Secret<String>, sessionToken: Secret<String>? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }
}

/// Where the credentials come from, as the AWS SDKs look for them: the
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`(/`AWS_SESSION_TOKEN`) variables, else a web
/// identity token file (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`, what EKS's IRSA
/// mounts), exchanged at STS, else the container credentials endpoint (an ECS task role, EKS
/// Pod Identity); temporary credentials are renewed five minutes before they expire.
public actor AWSCredentialProvider {
    enum Source: Sendable {
        case fixed(AWSCredentials)
        case webIdentity(tokenFile: String, roleARN: String, sessionName: String, sts: URL)
        case container(ContainerCredentials)
    }

    nonisolated let source: Source
    private var cached: AWSCredentials?
    /// The exchange in flight, which every caller needing fresh credentials awaits: one STS
    /// call per renewal, not one per concurrent KMS request. Never cancelled; it ends with its
    /// HTTP deadline.
    private var renewal: Task<AWSCredentials, any Error>?

    init(source: Source) {
        self.source = source
    }

    /// From the environment; the error names the variables to set.
    public static func fromEnvironment(_ environment: [String: String], region: String, stsEndpoint: URL? = nil) throws -> AWSCredentialProvider {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let id = value("AWS_ACCESS_KEY_ID") {
            guard let secret = value("AWS_SECRET_ACCESS_KEY") else {
                throw HubError(.invalidConfiguration, "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY")
            }
            return AWSCredentialProvider(source: .fixed(AWSCredentials(
                accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: value("AWS_SESSION_TOKEN").map(Secret.init)
            )))
        }
        if let file = value("AWS_WEB_IDENTITY_TOKEN_FILE") {
            guard let role = value("AWS_ROLE_ARN") else {
                throw HubError(.invalidConfiguration, "AWS_WEB_IDENTITY_TOKEN_FILE is set without AWS_ROLE_ARN")
            }
            let sts = stsEndpoint ?? URL(string: "https://sts.\(region).amazonaws.com/")
            guard let sts else { throw HubError(.invalidConfiguration, "no STS endpoint for region \(region)") }
            return AWSCredentialProvider(source: .webIdentity(tokenFile: file, roleARN: role,
                                                              sessionName: value("AWS_ROLE_SESSION_NAME") ?? "tributary", sts: sts))
        }
        if let container = try ContainerCredentials.fromEnvironment(value) {
            return AWSCredentialProvider(source: .container(container))
        }
        throw HubError(
            .invalidConfiguration,
            "no AWS credentials for KMS: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, "
                + "or run where ECS or EKS Pod Identity sets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI"
        )
    }

    /// Current credentials, renewed when temporary ones are within five minutes of expiring.
    func credentials(client: AWSHTTP, now: Date = Date()) async throws -> AWSCredentials {
        switch source {
        case .fixed(let credentials):
            return credentials
        case .webIdentity, .container:
            if let cached, let expiration = cached.expiration, expiration.timeIntervalSince(now) > 300 { return cached }
            let source = source
            let exchange = renewal ?? Task {
                switch source {
                case .webIdentity(let file, let role, let session, let sts):
                    try await WebIdentityExchange(tokenFile: file, roleARN: role, sessionName: session, endpoint: sts).credentials(client: client)
                case .container(let container):
                    try await container.credentials(client: client)
                case .fixed(let credentials):
                    credentials
                }
            }
            renewal = exchange
            defer { renewal = nil }
            do {
                let fresh = try await exchange.value
                cached = fresh
                return fresh
            } catch {
                // A failed renewal inside the five-minute margin keeps what still works.
                if let cached, let expiration = cached.expiration, expiration > Date() { return cached }
                throw error
            }
        }
    }
}
