import AsyncHTTPClient
import Foundation
import HubCore
import NIOCore
import NIOHTTP1

/// The few HTTP calls the demo makes itself (to the sample CRM's endpoint registration).
enum DemoHTTP {
    struct Reply: Sendable {
        let status: Int
        let json: JSONValue
    }

    static func post(_ url: String, bearer: String, body: String) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code),
                     json: (try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView))) ?? .null)
    }
}
