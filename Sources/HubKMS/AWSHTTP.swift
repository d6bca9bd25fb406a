import AsyncHTTPClient
import Foundation
import HubCore
import NIOCore
import NIOHTTP1

/// The HTTP under the KMS and STS calls: one POST, a deadline, and an answer read to at most
/// 1 MiB (KMS answers are a few hundred bytes; an endpoint that streams more is not KMS).
/// Requests go only to endpoints an operator configured (AWS's own by default), never to an
/// address from a tenant, a manifest or a response; plain HTTP is refused unless the endpoint
/// is on this machine (a local fake such as moto, or a sidecar).
struct AWSHTTP: Sendable {
    static let maxResponseBytes = 1 << 20
    let timeout: Duration

    /// A client of its own, not `HTTPClient.shared`: that one follows redirects, re-sending a
    /// POST's body (a data key being wrapped, a web identity token) and the session-token
    /// header to wherever a 307 points, plain HTTP included. This one follows none (a 3xx is an
    /// error like any other status), and bounds each read, which the request deadline (up to
    /// the answer's head) does not cover. It lives as long as the process, so is never shut down.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
    )

    struct Response: Sendable {
        let status: Int
        let body: [UInt8]
    }

    static func checkEndpoint(_ url: URL, variable: String) throws {
        let host = url.host ?? ""
        guard url.scheme == "https" || url.scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) else {
            throw HubError(.invalidConfiguration, "\(variable) must be an https:// URL (plain http only on this machine), found \(url.scheme ?? "no scheme")://\(host)")
        }
    }

    func post(_ url: URL, headers: [(String, String)], body: [UInt8]) async throws -> Response {
        try await send(.POST, url, headers: headers, body: body)
    }

    func get(_ url: URL, headers: [(String, String)]) async throws -> Response {
        try await send(.GET, url, headers: headers, body: nil)
    }

    private func send(_ method: HTTPMethod, _ url: URL, headers: [(String, String)], body: [UInt8]?) async throws -> Response {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let deadline = TimeAmount.nanoseconds(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        let response = try await Self.client.execute(request, timeout: deadline)
        var collected = try await response.body.collect(upTo: Self.maxResponseBytes)
        return Response(status: Int(response.status.code), body: collected.readBytes(length: collected.readableBytes) ?? [])
    }
}
