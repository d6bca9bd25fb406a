import Foundation
import HubConnectors
import HubCore
import Logging
import NIOCore
import NIOPosix

/// An HTTP proxy on loopback, one per source run, through which the source's requests go
/// (`HTTPS_PROXY` and `HTTP_PROXY` point at it): each destination host is resolved and checked
/// against the egress policy, and the connection goes to the checked address. A tenant who
/// puts `169.254.169.254` or the database's address in a config gets the same refusal from a
/// process connector as from the engine.
///
/// It holds for sources that honour the proxy variables (`requests`, which the Airbyte CDK
/// uses, `httpx`, `urllib`); a source opening sockets itself bypasses it, which is why
/// publishing a source stays an operator's right (docs/security.md).
///
/// HTTPS goes through `CONNECT host:port` and is tunnelled unread. Plain HTTP (absolute-form
/// requests) is forwarded one request per connection, with `Connection: close`, so a client
/// reusing a proxy connection can't send a second request to the first request's host.
struct EgressProxy: Sendable {
    let policy: EgressPolicy
    let logger: Logger
    /// A request head longer than this is refused.
    static let maxHeadBytes = 16 << 10

    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// Runs `body` with the proxy's port, serving until `body` returns.
    func withRunning<T: Sendable>(_ body: @escaping @Sendable (Int) async throws -> T) async throws -> T {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
            }
        guard let port = server.channel.localAddress?.port else {
            throw HubError(.internalError, "the egress proxy has no port")
        }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { connections in
                        for try await connection in inbound {
                            connections.addTask { await self.serve(connection) }
                        }
                    }
                }
                return nil
            }
            group.addTask { try await body(port) }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    private func serve(_ client: Connection) async {
        do {
            try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                var head = ByteBuffer()
                var headEnd: Int?
                while headEnd == nil {
                    guard var chunk = try await iterator.next() else { return }
                    head.writeBuffer(&chunk)
                    headEnd = head.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
                    if headEnd == nil, head.readableBytes > Self.maxHeadBytes {
                        try await outbound.write(Self.answer(431, "the request head is too long"))
                        return
                    }
                }
                let split = headEnd! - head.readerIndex
                let headText = String(decoding: head.readableBytesView.prefix(split), as: UTF8.self)
                let rest = head.getSlice(at: head.readerIndex + split, length: head.readableBytes - split) ?? ByteBuffer()
                let lines = headText.components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count == 3 else {
                    try await outbound.write(Self.answer(400, "not an HTTP request"))
                    return
                }
                let tunnel = parts[0] == "CONNECT"
                guard let (host, port) = Self.destination(String(parts[1]), tunnel: tunnel) else {
                    try await outbound.write(Self.answer(400, "no host in the request target"))
                    return
                }
                let address: [UInt8]
                do {
                    // The connection goes to an address checked here, not to the name resolved again.
                    address = try await policy.addresses(of: host)[0]
                } catch let refused as EgressRefused {
                    logger.warning("egress refused for a process connector", metadata: ["hub.egress.host": "\(host)", "hub.egress.reason": "\(refused.reason)"])
                    try await outbound.write(Self.answer(403, refused.description))
                    return
                }
                let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(30))
                    .connect(to: try Self.socketAddress(address, port: port)) { channel in
                        channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
                    }
                try await upstream.executeThenClose { upstreamInbound, upstreamOutbound in
                    if tunnel {
                        try await outbound.write(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n"))
                    } else {
                        // One request per connection: the origin sees `Connection: close` and ends it.
                        let kept = lines.dropFirst().filter { line in
                            let name = line.split(separator: ":").first?.lowercased() ?? ""
                            return !line.isEmpty && name != "connection" && name != "proxy-connection" && name != "keep-alive"
                        }
                        try await upstreamOutbound.write(ByteBuffer(string: ([lines[0]] + kept + ["Connection: close", "", ""]).joined(separator: "\r\n")))
                    }
                    if rest.readableBytes > 0 { try await upstreamOutbound.write(rest) }
                    // Upstream to the client in a child task, the client to upstream here: the
                    // client closing (after the answer, or at the end of its tunnel) ends both.
                    try await withThrowingTaskGroup(of: Void.self) { pipes in
                        pipes.addTask {
                            for try await chunk in upstreamInbound { try await outbound.write(chunk) }
                            outbound.finish()
                        }
                        while let chunk = try await iterator.next() { try await upstreamOutbound.write(chunk) }
                        upstreamOutbound.finish()
                        pipes.cancelAll()
                    }
                }
            }
        } catch {
            logger.debug("egress proxy connection ended", metadata: ["hub.error": "\(error)"])
        }
    }

    /// The host and port of `CONNECT host:port` or of an absolute-form `http://host[:port]/…`.
    static func destination(_ target: String, tunnel: Bool) -> (String, Int)? {
        var authority = Substring(target)
        if !tunnel {
            guard target.lowercased().hasPrefix("http://") else { return nil }
            authority = authority.dropFirst("http://".count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        }
        if authority.contains("@") { return nil }
        var host = authority
        var port = tunnel ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { guard let parsed = Int(after.dropFirst()) else { return nil }; port = parsed }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let parsed = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = parsed
        }
        guard !host.isEmpty, (1...65_535).contains(port) else { return nil }
        return (String(host), port)
    }

    static func socketAddress(_ address: [UInt8], port: Int) throws -> SocketAddress {
        try SocketAddress(ipAddress: IPRange.format(address), port: port)
    }

    static func answer(_ status: Int, _ reason: String) -> ByteBuffer {
        let body = "Tributary egress proxy: \(reason)\n"
        return ByteBuffer(string: "HTTP/1.1 \(status) \(status == 403 ? "Forbidden" : "Bad Request")\r\nContent-Type: text/plain\r\n"
                          + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
    }
}
