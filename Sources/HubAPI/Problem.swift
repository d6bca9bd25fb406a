import Foundation
import HubCore
import HubStore
import Hummingbird

/// An RFC 9457 problem+json response with a stable `code`: every API error looks like this.
public struct Problem: Error, Sendable {
    public let status: HTTPResponse.Status
    public let code: HubError.Code
    public let title: String
    public let detail: String
    public var errors: [String: String] = [:]
    public var headers: [(String, String)] = []

    public init(status: HTTPResponse.Status, code: HubError.Code, title: String, detail: String,
                errors: [String: String] = [:], headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    static func unauthorized(_ detail: String) -> Problem {
        Problem(status: .unauthorized, code: .unauthorized, title: "Unauthorized", detail: detail,
                headers: [("WWW-Authenticate", "Bearer")])
    }

    static func forbidden(_ scope: ApiScope) -> Problem {
        Problem(status: .forbidden, code: .forbidden, title: "Forbidden", detail: "this API key lacks the \(scope.rawValue) scope")
    }

    static func invalid(_ errors: [String: String]) -> Problem {
        Problem(status: .badRequest, code: .invalidRequest, title: "Invalid request",
                detail: "\(errors.count) parameter\(errors.count == 1 ? " is" : "s are") invalid", errors: errors)
    }

    /// The status a `HubError` maps to, decided here once and for every code: the switch has
    /// no default, so a new code does not compile until it has a status.
    init(_ error: HubError) {
        let internalError = Problem(status: .internalServerError, code: .internalError, title: "Internal error",
                                    detail: "something went wrong; quote the request id when reporting it")
        switch error.code {
        case .notFound: self.init(status: .notFound, code: error.code, title: "Not found", detail: error.message)
        case .invalidInput, .invalidRequest:
            self.init(status: .badRequest, code: error.code, title: "Invalid request", detail: error.message)
        case .conflict: self.init(status: .conflict, code: error.code, title: "Conflict", detail: error.message)
        case .databaseUnavailable:
            self.init(status: .serviceUnavailable, code: error.code, title: "Unavailable",
                      detail: "the database is unavailable; retry after 5 s", headers: [("Retry-After", "5")])
        case .unauthorized: self = .unauthorized(error.message)
        case .forbidden: self.init(status: .forbidden, code: error.code, title: "Forbidden", detail: error.message)
        case .invalidConfig:
            self.init(status: .unprocessableContent, code: error.code, title: "Invalid configuration", detail: error.message)
        case .invalidConnector:
            self.init(status: .unprocessableContent, code: error.code, title: "Invalid connector", detail: error.message)
        case .invalidModel:
            self.init(status: .unprocessableContent, code: error.code, title: "Invalid model", detail: error.message)
        case .methodNotAllowed: self.init(status: .methodNotAllowed, code: error.code, title: "Method not allowed", detail: error.message)
        case .payloadTooLarge: self.init(status: .contentTooLarge, code: error.code, title: "Payload too large", detail: error.message)
        case .rateLimited: self.init(status: .tooManyRequests, code: error.code, title: "Too many requests", detail: error.message)
        case .webhookRejected: self.init(status: .unauthorized, code: error.code, title: "Webhook rejected", detail: error.message)
        // What the server got wrong, not the request: the detail stays in the log, not the answer.
        case .invalidConfiguration, .databaseError, .storedDataInvalid, .schemaOutOfDate, .schemaTooNew,
             .migrationChecksumMismatch, .migrationFailed, .embeddedPostgres, .postgresNotInstalled, .keyUnavailable,
             .decryptionFailed, .keyShredded, .keyRetirementBlocked, .internalError, .httpError:
            self = internalError
        }
    }

    /// The HTTP status as a number.
    var statusCode: Int { Int(status.code) }

    func response(requestID: String) -> Response {
        var object: [String: Any] = [
            "type": "https://tributary.dev/problems/\(code.rawValue)", "title": title, "status": Int(status.code),
            "detail": detail, "code": code.rawValue, "request_id": requestID,
        ]
        if !errors.isEmpty { object["errors"] = errors.sorted { $0.key < $1.key }.map { ["field": $0.key, "message": $0.value] } }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        var fields = HTTPFields()
        fields[.contentType] = "application/problem+json"
        for (name, value) in headers { fields[.init(name)!] = value }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
