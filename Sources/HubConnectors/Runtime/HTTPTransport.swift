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

/// The production transport: AsyncHTTPClient with its shared connection pool.
public struct AsyncHTTPTransport: HTTPTransport {
    let client: HTTPClient
    /// Bodies larger than this are refused rather than buffered without bound.
    let maxBodyBytes: Int

    public init(client: HTTPClient = .shared, maxBodyBytes: Int = 64 << 20) {
        self.client = client
        self.maxBodyBytes = maxBodyBytes
    }

    public func send(_ request: HTTPRequestData, timeout: Duration) async throws -> HTTPResponseData {
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
