import Foundation
import HubCore
import NIOCore

/// The four KMS calls Tributary makes (`Encrypt`, `Decrypt`, `GenerateDataKey`,
/// `DescribeKey`), as signed JSON POSTs. Throttling, a 5xx or a failed connection is retried
/// (three retries, backing off up to 0.2, 0.4, 0.8 s with full jitter, so processes refused
/// together do not return together); any other refusal fails at once with KMS's error type, which names the
/// problem (`AccessDeniedException`, `InvalidCiphertextException`, `NotFoundException`, …).
/// No error carries a plaintext, a ciphertext or a credential.
public struct AWSKMSClient: Sendable {
    public let endpoint: URL
    public let region: String
    let credentials: AWSCredentialProvider
    let http: AWSHTTP
    static let attempts = 4

    /// `endpoint` defaults to `https://kms.REGION.amazonaws.com/`.
    public init(region: String, endpoint: URL? = nil, credentials: AWSCredentialProvider, timeout: Duration = .seconds(10)) throws {
        guard !region.isEmpty, region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw HubError(.invalidConfiguration, "the AWS region '\(region)' is not a region name such as eu-west-1")
        }
        guard let url = endpoint ?? URL(string: "https://kms.\(region).amazonaws.com/") else {
            throw HubError(.invalidConfiguration, "no KMS endpoint for region \(region)")
        }
        try AWSHTTP.checkEndpoint(url, variable: "TRIBUTARY_KMS_ENDPOINT")
        self.endpoint = url
        self.region = region
        self.credentials = credentials
        self.http = AWSHTTP(timeout: timeout)
    }

    /// Refuses an endpoint that is neither https nor on this machine; the error names `variable`.
    public static func checkEndpoint(_ url: URL, variable: String) throws {
        try AWSHTTP.checkEndpoint(url, variable: variable)
    }

    /// Calls `TrentService.<operation>` with `body`; returns the decoded answer.
    func call(_ operation: String, _ body: [String: Any]) async throws -> [String: Any] {
        let payload = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        var attempt = 0
        while true {
            attempt += 1
            let response: AWSHTTP.Response
            do {
                let signer = SignatureV4(region: region, service: "kms")
                let headers = [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "TrentService.\(operation)")]
                let signed = signer.sign(method: "POST", url: endpoint, headers: headers, body: Array(payload),
                                         credentials: try await credentials.credentials(client: http), date: Date())
                response = try await http.post(endpoint, headers: signed.filter { $0.0 != "host" }, body: Array(payload))
            } catch let error as HubError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as NIOTooManyBytesError {
                throw HubError(.keyUnavailable, "AWS KMS \(operation) at \(endpoint.host ?? "") answered more than \(error.maxBytes.map(String.init) ?? "1 MiB") bytes: not KMS")
            } catch {
                guard attempt < Self.attempts else {
                    throw HubError(.keyUnavailable, "AWS KMS \(operation) at \(endpoint.host ?? "") failed after \(attempt) attempts: \(error)")
                }
                try await Self.backOff(attempt)
                continue
            }
            let decoded = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            if response.status == 200, let decoded { return decoded }
            let type = (decoded?["__type"] as? String).map { $0.split(separator: "#").last.map(String.init) ?? $0 } ?? "HTTP \(response.status)"
            let retryable = response.status >= 500 || type.contains("Throttling") || type == "KMSInternalException"
            guard retryable, attempt < Self.attempts else {
                // KMS's message explains the refusal; it never holds key material.
                let message = (decoded?["message"] as? String ?? decoded?["Message"] as? String).map { ": " + $0.prefix(300) } ?? ""
                throw HubError(.keyUnavailable, "AWS KMS \(operation) refused (\(type))\(message)")
            }
            try await Self.backOff(attempt)
        }
    }

    /// Full jitter: a random wait up to 0.2, 0.4, 0.8 s after the first, second, third attempt.
    static func backOff(_ attempt: Int) async throws {
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...(100 << attempt))))
    }

    /// Bytes from a base64 field of an answer.
    static func bytes(_ answer: [String: Any], _ field: String, operation: String) throws -> [UInt8] {
        guard let text = answer[field] as? String, let data = Data(base64Encoded: text) else {
            throw HubError(.keyUnavailable, "AWS KMS \(operation) answered without \(field)")
        }
        return Array(data)
    }
}
