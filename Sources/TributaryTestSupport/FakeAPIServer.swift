import Foundation
import HubDatabase
import Hummingbird
import Logging
import Synchronization

/// A local HTTP server standing in for a third-party API: every request goes to one handler,
/// and every request is logged so tests can check exactly what a connector sent.
public final class FakeAPIServer: Sendable {
    public struct LoggedRequest: Sendable {
        public let method: String
        public let path: String
        /// The first value of each parameter, as Python's `parse_qs(...)[name][0]` reads it.
        public let query: [String: String]
        /// The query as sent, undecoded: a parameter sent twice shows here.
        public var rawQuery: String = ""
        /// Header names lowercased.
        public let headers: [String: String]
        public let body: [UInt8]

        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    public struct Reply: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var headers: [(String, String)]

        public init(status: Int = 200, body: [UInt8], headers: [(String, String)] = []) {
            self.status = status
            self.body = body
            self.headers = headers
        }

        public static func json(_ text: String, status: Int = 200) -> Reply { Reply(status: status, body: Array(text.utf8)) }
    }

    public typealias Handler = @Sendable (LoggedRequest) async -> Reply

    private let handler: Handler
    private let log = Mutex<[LoggedRequest]>([])

    public init(handler: @escaping Handler) { self.handler = handler }

    public var requests: [LoggedRequest] { log.withLock { $0 } }

    /// Runs the server on a free loopback port for the duration of `body`, which gets its base URL.
    public func withRunning<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.on("**", method: .get) { request, _ in try await self.respond(request) }
        router.on("**", method: .post) { request, _ in try await self.respond(request) }
        // `**` needs a path segment: the root is routed on its own.
        router.on("/", method: .get) { request, _ in try await self.respond(request) }
        router.on("/", method: .post) { request, _ in try await self.respond(request) }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "fake-api")
        logger.logLevel = .critical
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            defer { group.cancelAll() }
            return try await body("http://127.0.0.1:\(port)")
        }
    }

    private func respond(_ request: Request) async throws -> Response {
        var query: [String: String] = [:]
        // Decoded as a web framework (or Python's parse_qs) would: `+` is a space, %XX a byte.
        func decode(_ text: Substring) -> String {
            String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
        }
        for pair in (request.uri.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            if query[name] == nil { query[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
        var buffer = try await request.body.collect(upTo: 16 << 20)
        let body = buffer.readBytes(length: buffer.readableBytes) ?? []
        var logged = LoggedRequest(method: request.method.rawValue, path: request.uri.path, query: query, headers: headers, body: body)
        logged.rawQuery = request.uri.query ?? ""
        log.withLock { $0.append(logged) }
        let reply = await handler(logged)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in reply.headers {
            fields[.init(name)!] = value
        }
        return Response(status: .init(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
    }
}
