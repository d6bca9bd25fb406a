import Foundation
import HubCore
import HubStore
import Hummingbird

/// An RFC 9457 problem+json response with a stable `code`: every API error looks like this.
public struct Problem: Error, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let title: String
    public let detail: String
    public var errors: [String: String] = [:]
    public var headers: [(String, String)] = []

    public init(status: HTTPResponse.Status, code: String, title: String, detail: String,
                errors: [String: String] = [:], headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    static func unauthorized(_ detail: String) -> Problem {
        Problem(status: .unauthorized, code: "unauthorized", title: "Unauthorized", detail: detail,
                headers: [("WWW-Authenticate", "Bearer")])
    }

    static func forbidden(_ scope: ApiScope) -> Problem {
        Problem(status: .forbidden, code: "forbidden", title: "Forbidden", detail: "this API key lacks the \(scope.rawValue) scope")
    }

    static func invalid(_ errors: [String: String]) -> Problem {
        Problem(status: .badRequest, code: "invalid_request", title: "Invalid request",
                detail: "\(errors.count) parameter\(errors.count == 1 ? " is" : "s are") invalid", errors: errors)
    }

    /// The status a `HubError` maps to, decided here once.
    init(_ error: HubError) {
        switch error.code {
        case .notFound: self.init(status: .notFound, code: error.code.rawValue, title: "Not found", detail: error.message)
        case .invalidInput: self.init(status: .badRequest, code: error.code.rawValue, title: "Invalid request", detail: error.message)
        case .conflict: self.init(status: .conflict, code: error.code.rawValue, title: "Conflict", detail: error.message)
        case .databaseUnavailable:
            self.init(status: .serviceUnavailable, code: error.code.rawValue, title: "Unavailable",
                      detail: "the database is unavailable; retry after 5 s", headers: [("Retry-After", "5")])
        default:
            self.init(status: .internalServerError, code: "internal_error", title: "Internal error",
                      detail: "something went wrong; quote the request id when reporting it")
        }
    }

    func response(requestID: String) -> Response {
        var object: [String: Any] = [
            "type": "https://tributary.dev/problems/\(code)", "title": title, "status": Int(status.code),
            "detail": detail, "code": code, "request_id": requestID,
        ]
        if !errors.isEmpty { object["errors"] = errors.sorted { $0.key < $1.key }.map { ["field": $0.key, "message": $0.value] } }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        var fields = HTTPFields()
        fields[.contentType] = "application/problem+json"
        for (name, value) in headers { fields[.init(name)!] = value }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
