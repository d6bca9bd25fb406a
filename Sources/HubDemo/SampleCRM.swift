import AsyncHTTPClient
import Foundation
import HubConnectors
import HubCore
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A CRM like the ones Tributary's users connect: contacts and companies behind a bearer key,
/// cursor pagination, an `updated_since` filter, a 429 with `Retry-After` now and then, and
/// signed webhooks (Stripe-style `t=…,v1=…`) to registered endpoints when a contact changes.
public final class SampleCRM: Sendable {
    public let apiKey: String
    let log: SampleAPIRequestLog
    private let data: Mutex<DemoData>
    private let endpoints = Mutex<[(url: String, secret: String)]>([])
    private let requestNumber = Mutex(0)
    /// Every `rateLimitEvery`-th data request is refused with 429 (0: never).
    let rateLimitEvery: Int

    public init(apiKey: String, data: DemoData, log: SampleAPIRequestLog, rateLimitEvery: Int = 4) {
        self.apiKey = apiKey
        self.data = Mutex(data)
        self.log = log
        self.rateLimitEvery = rateLimitEvery
    }

    public func application(logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.get("/v1/contacts") { request, _ in self.list(request, stream: "contacts") }
        router.get("/v1/companies") { request, _ in self.list(request, stream: "companies") }
        router.post("/v1/webhook_endpoints") { request, _ in try await self.addEndpoint(request) }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "sample-crm"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) }, logger: logger)
    }

    private func authorized(_ request: Request) -> Bool {
        request.headers[.authorization] == "Bearer \(apiKey)"
    }

    private func list(_ request: Request, stream: String) -> Response {
        let query = SampleResponse.query(request)
        func logged(_ response: Response, records: Int = 0) -> Response {
            log.append(.init(api: "crm", method: "GET", path: request.uri.path, query: request.uri.query ?? "",
                             status: Int(response.status.code), records: records, stream: stream))
            return response
        }
        guard authorized(request) else { return logged(SampleResponse.error(.unauthorized, "invalid_api_key", "Invalid API key")) }
        let number = requestNumber.withLock { $0 += 1; return $0 }
        if rateLimitEvery > 0, number % rateLimitEvery == 0 {
            return logged(SampleResponse.error(.tooManyRequests, "rate_limited", "Too many requests; retry later",
                                               headers: [("Retry-After", "1")]))
        }
        let limit = min(max(Int(query["limit"] ?? "") ?? 50, 1), 200)
        let since = query["updated_since"] ?? ""
        // Ordered by (updated_at, id): a cursor is the last row's pair, so changes while paging skip nothing.
        let rows = data.withLock { stream == "contacts" ? $0.contacts : $0.companies }
            .filter { ($0["updated_at"]?.stringValue ?? "") >= since }
            .sorted { ($0["updated_at"]!.stringValue!, $0["id"]!.stringValue!) < ($1["updated_at"]!.stringValue!, $1["id"]!.stringValue!) }
        var start = 0
        if let cursor = query["cursor"] {
            guard let decoded = Data(base64Encoded: cursor).map({ String(decoding: $0, as: UTF8.self) }),
                  let separator = decoded.firstIndex(of: "|") else {
                return logged(SampleResponse.error(.badRequest, "invalid_cursor", "cursor is not one this API returned"))
            }
            let after = (String(decoded[..<separator]), String(decoded[decoded.index(after: separator)...]))
            start = rows.firstIndex { ($0["updated_at"]!.stringValue!, $0["id"]!.stringValue!) > after } ?? rows.count
        }
        let page = Array(rows[start..<min(start + limit, rows.count)])
        let more = start + page.count < rows.count
        let next: JSONValue = more && !page.isEmpty
            ? .string(Data("\(page.last!["updated_at"]!.stringValue!)|\(page.last!["id"]!.stringValue!)".utf8).base64EncodedString())
            : .null
        return logged(SampleResponse.json(.object(["data": .array(page.map(JSONValue.object)), "has_more": .bool(more),
                                                   "next_cursor": next])), records: page.count)
    }

    /// Registers a webhook endpoint; the answer carries its signing secret, shown once.
    private func addEndpoint(_ request: Request) async throws -> Response {
        guard authorized(request) else { return SampleResponse.error(.unauthorized, "invalid_api_key", "Invalid API key") }
        var buffer = try await request.body.collect(upTo: 64 << 10)
        let body = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard case .string(let url)? = (try? JSONDecoder().decode(JSONValue.self, from: Data(body)))?["url"] else {
            return SampleResponse.error(.badRequest, "invalid_request", "url is required")
        }
        var bytes = [UInt8](repeating: 0, count: 24)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let secret = "whsec_" + Data(bytes).base64EncodedString().replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "+", with: "-")
        endpoints.withLock { $0.append((url, secret)) }
        return SampleResponse.json(.object(["id": .string("we_\(endpoints.withLock { $0.count })"), "url": .string(url),
                                            "secret": .string(secret)]), status: .created)
    }

    /// Applies a round of changes and delivers one signed `contact.updated` event per change
    /// to every endpoint. Returns the changed contacts and the delivery statuses.
    public func change(round: Int) async -> (contacts: [[String: JSONValue]], statuses: [Int]) {
        let changed = data.withLock { $0.applyChanges(round: round) }
        var statuses: [Int] = []
        for (k, contact) in changed.enumerated() {
            let event = JSONValue.object([
                "id": .string("evt_r\(round)_\(k + 1)"), "type": .string("contact.updated"),
                "created": .number(Double(Int(Date().timeIntervalSince1970))), "data": .object(["object": .object(contact)]),
            ])
            let body = Array(event.canonicalJSON.utf8)
            for endpoint in endpoints.withLock({ $0 }) {
                var request = HTTPClientRequest(url: endpoint.url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "CRM-Signature", value: WebhookVerifier.sign(
                    body: body, secret: Array(endpoint.secret.utf8), scheme: .stripe, timestamp: Int(Date().timeIntervalSince1970)))
                request.body = .bytes(ByteBuffer(bytes: body))
                do {
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    statuses.append(Int(response.status.code))
                } catch {
                    statuses.append(0)
                }
            }
        }
        return (changed, statuses)
    }
}
