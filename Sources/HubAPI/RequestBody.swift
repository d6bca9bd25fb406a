import Foundation
import HubCore
import Hummingbird

/// The one way the API reads a request body: at most `limit` bytes, refused with a 413
/// problem past it (checked against `Content-Length` before reading, and while reading for a
/// body sent without one), and decoded as a JSON object when asked.
struct RequestBody: Sendable {
    /// What the API accepts by default: 4 MiB, room for a connector's manifest and sidecar,
    /// the largest body any route takes.
    static let defaultLimit = 4 << 20

    let limit: Int

    init(limit: Int = RequestBody.defaultLimit) {
        self.limit = limit
    }

    /// The body's bytes; a 413 problem past `limit`.
    func bytes(_ request: Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        do {
            var buffer = try await request.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        }
    }

    /// The body as a JSON object; nil for an empty body when `optional`, else a 400 problem
    /// whose message is `expected` (what the route takes, with an example).
    func object(_ request: Request, expected: String, optional: Bool = false) async throws -> [String: JSONValue]? {
        let bytes = try await bytes(request)
        if bytes.isEmpty, optional { return nil }
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            throw Problem.invalid(["body": expected])
        }
        return object
    }

    private var tooLarge: Problem {
        Problem(status: .contentTooLarge, code: .payloadTooLarge, title: "Payload too large",
                detail: "the request body exceeds the limit of \(limit) bytes")
    }
}
