import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP exchange as the engine sees it.
public struct HTTPRequestData: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Follow 3xx answers (the connector's `hub.yaml` says `follow_redirects: true`); each
    /// hop is checked by the egress policy again, and custom headers stay with the origin.
    public var followRedirects: Bool = false
}

public struct HTTPResponseData: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    /// For transports other than the built-in one (tests, recorded cassettes).
    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Sends requests. The engine never opens sockets itself, so tests and the benchmark can
/// swap the client while production uses AsyncHTTPClient.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData
}

/// A transport failure that never reached an HTTP status (refused, reset, timed out, truncated).
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The production transport: AsyncHTTPClient, behind the egress policy. AsyncHTTPClient's own
/// redirects are off: they would go to addresses nobody checked, so the hops are followed here.
public struct AsyncHTTPTransport: HTTPTransport {
    let client: HTTPClient
    let egress: EgressPolicy
    /// Bodies larger than this are refused rather than buffered without bound.
    let maxBodyBytes: Int
    /// The most hops one followed redirect chain may take.
    static let maxRedirects = 5

    /// Strict by default: with no allowances, private and loopback addresses are refused.
    public init(egress: EgressPolicy = EgressPolicy(), client: HTTPClient = AsyncHTTPTransport.engineClient, maxBodyBytes: Int = 64 << 20) {
        self.client = client
        self.egress = egress
        self.maxBodyBytes = maxBodyBytes
    }

    /// AsyncHTTPClient's shared settings with redirects off; lives as long as the process, as
    /// `HTTPClient.shared` does, so it is never shut down.
    public static let engineClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
        var current = request
        var hops = 0
        while true {
            let url = try await egress.check(current.url)
            let response = try await exchange(current, timeout: timeout)
            guard [301, 302, 303, 307, 308].contains(response.status), let location = response.header("Location") else { return response }
            guard let target = URL(string: location, relativeTo: url)?.absoluteURL else {
                throw TransportError(message: "\(current.method) \(Self.redacted(current.url)): HTTP \(response.status) with a Location that is not a URL")
            }
            guard request.followRedirects else {
                throw EgressRefused(host: url.host ?? "", reason: "it answered HTTP \(response.status), a redirect to \(Self.redacted(target.absoluteString)); "
                                    + "redirects are followed only when the connector's hub.yaml sets follow_redirects: true")
            }
            hops += 1
            guard hops <= Self.maxRedirects else {
                throw TransportError(message: "\(request.method) \(Self.redacted(request.url)): more than \(Self.maxRedirects) redirects")
            }
            current = try Self.redirect(current, from: url, to: target, status: response.status)
        }
    }

    /// The next hop's request. As browsers and Python's requests do: 303, and a 301 or 302 of
    /// anything but GET or HEAD, become a GET without a body. To another origin only plain
    /// headers go along: an `Authorization`, a cookie or a custom API-key header never does.
    static func redirect(_ request: HTTPRequestData, from source: URL, to target: URL, status: Int) throws -> HTTPRequestData {
        var next = request
        next.url = target.absoluteString
        if status == 303 || ((status == 301 || status == 302) && !["GET", "HEAD"].contains(request.method)) {
            next.method = "GET"
            next.body = nil
            next.headers.removeAll { ["content-type", "content-length"].contains($0.0.lowercased()) }
        }
        let sameOrigin = source.scheme?.lowercased() == target.scheme?.lowercased() && source.host?.lowercased() == target.host?.lowercased()
            && source.port == target.port
        if !sameOrigin {
            // A 307 or 308 resends the body, which may hold credentials (a login form).
            if next.body != nil {
                throw EgressRefused(host: target.host ?? "", reason: "HTTP \(status) would resend the request body to another origin")
            }
            next.headers.removeAll { !crossOriginHeaders.contains($0.0.lowercased()) }
        }
        return next
    }

    /// The only headers kept on a redirect to another origin.
    static let crossOriginHeaders: Set<String> = ["accept", "accept-encoding", "accept-language", "user-agent", "content-type"]

    private func exchange(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(outgoing, timeout: .nanoseconds(Int64(timeout.inSecondsDouble * 1e9)))
            var buffer = try await response.body.collect(upTo: maxBodyBytes)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            return HTTPResponseData(status: Int(response.status.code),
                                    headers: response.headers.map { ($0.name, $0.value) }, body: bytes)
        } catch let error as HTTPClientError {
            throw TransportError(message: "\(request.method) \(Self.redacted(request.url)) failed: \(error)")
        } catch let error as NIOTooManyBytesError {
            throw TransportError(message: "\(request.method) \(Self.redacted(request.url)): response body over \(maxBodyBytes) bytes (\(error))")
        }
    }

    /// The URL without its query: query strings may carry API keys.
    static func redacted(_ url: String) -> String {
        String(url.split(separator: "?", maxSplits: 1).first ?? "")
    }
}

extension Duration {
    var inSecondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
