import Foundation
import HubCore

/// The container credentials endpoint: what ECS gives a task with a task role
/// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, on 169.254.170.2) and EKS Pod Identity gives a
/// pod (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with an authorization token file). A GET answers
/// JSON with temporary credentials and their expiry, as the AWS SDKs read it.
struct ContainerCredentials: Sendable {
    let endpoint: URL
    /// Read again on every fetch: EKS rotates it.
    let authorizationTokenFile: String?
    let authorizationToken: Secret<String>?

    /// The hosts a plain-HTTP credentials endpoint may have, as the AWS SDKs allow: ECS's and
    /// EKS Pod Identity's link-local agents, and this machine. Anything else must be https, so
    /// credentials never cross a network in the clear.
    static let plainHTTPHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]", "127.0.0.1", "localhost", "::1", "[::1]"]

    static func fromEnvironment(_ value: (String) -> String?) throws -> ContainerCredentials? {
        let endpoint: URL
        if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            guard relative.hasPrefix("/"), let url = URL(string: "http://169.254.170.2" + relative) else {
                throw HubError(.invalidConfiguration, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with /")
            }
            endpoint = url
        } else if let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            guard let url = URL(string: full), let host = url.host,
                  url.scheme == "https" || url.scheme == "http" && plainHTTPHosts.contains(host) else {
                throw HubError(.invalidConfiguration, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to the ECS or EKS credentials agent")
            }
            endpoint = url
        } else {
            return nil
        }
        return ContainerCredentials(endpoint: endpoint, authorizationTokenFile: value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                                    authorizationToken: value("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Secret.init))
    }

    func credentials(client: AWSHTTP) async throws -> AWSCredentials {
        var headers: [(String, String)] = []
        if let file = authorizationTokenFile {
            guard let token = try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
                throw HubError(.keyUnavailable, "cannot read the container authorization token file \(file) (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)")
            }
            headers.append(("Authorization", token))
        } else if let token = authorizationToken {
            headers.append(("Authorization", token.revealed))
        }
        let response = try await client.get(endpoint, headers: headers)
        guard response.status == 200 else {
            throw HubError(.keyUnavailable, "the container credentials endpoint \(endpoint.host ?? "") answered HTTP \(response.status)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
              let id = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String,
              let token = object["Token"] as? String else {
            throw HubError(.keyUnavailable, "the container credentials endpoint \(endpoint.host ?? "") answered without credentials")
        }
        guard let expiration = (object["Expiration"] as? String).flatMap(WebIdentityExchange.date) else {
            throw HubError(.keyUnavailable, "the container credentials endpoint \(endpoint.host ?? "") answered without a readable Expiration")
        }
        // Never trusted for more than six hours (ECS hands out about that), whatever it says.
        return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: Secret(token),
                              expiration: min(expiration, Date().addingTimeInterval(6 * 3600)))
    }
}
