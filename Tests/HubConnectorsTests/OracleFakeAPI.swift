import TributaryTestSupport

/// The oracle's `fake_server.py` in Swift: the same GoCardless-like and MailerSend-like data,
/// so the goldens recorded against the Python server with the CDK hold for this one.
enum OracleFakeAPI {
    static let expectedToken = "Bearer sandbox_test-token"

    static func dumps(_ text: String) -> FakeAPIServer.Reply { .json(text) }

    /// (stream, cursor or "") → body; shapes as in fake_server.py.
    static let goCardless: [String: [String: String]] = {
        let shape: [(String, Int, Int)] = [("payments", 3, 4), ("refunds", 2, 3), ("mandates", 1, 2), ("payouts", 1, 0)]
        var pages: [String: [String: String]] = [:]
        for (stream, pageCount, perPage) in shape {
            let prefix = stream.prefix(2).uppercased()
            var n = 0
            for page in 0..<pageCount {
                var records: [String] = []
                for _ in 0..<perPage {
                    n += 1
                    let day = String(format: "%02d", 1 + n % 28), second = String(format: "%02d", n % 60)
                    let status = n % 3 != 0 ? "confirmed" : "pending_submission"
                    records.append(#"{"id":"\#(prefix)\#(String(format: "%07d", n))","created_at":"2024-01-\#(day)T00:00:\#(second).000Z","amount":\#(n * 7 % 10000),"currency":"EUR","status":"\#(status)","metadata":{"order":\#(n)}}"#)
                }
                let next = page + 1 < pageCount ? "\"\(prefix)C\(page + 1)\"" : "null"
                let body = #"{"\#(stream)":[\#(records.joined(separator: ","))],"meta":{"cursors":{"before":null,"after":\#(next)},"limit":\#(perPage)}}"#
                pages[stream, default: [:]][page == 0 ? "" : "\(prefix)C\(page)"] = body
            }
        }
        return pages
    }()

    static let mailerSendDay0 = 1_717_027_200

    static func mailerSendPage(dateFrom: Int, page: Int, pageSize: Int) -> String {
        let selected = (0..<400).map { (index: $0, createdAt: mailerSendDay0 + $0 * 500) }
            .filter { $0.createdAt >= dateFrom && $0.createdAt < dateFrom + 86_400 }
        let chunk = selected.dropFirst(max(0, (page - 1) * pageSize)).prefix(max(0, pageSize))
        let records = chunk.map {
            #"{"id":"act\#(String(format: "%04d", $0.index))","created_at":\#($0.createdAt),"type":"sent","email":{"recipient":{"email":"user\#($0.index)@example.com"}}}"#
        }
        return #"{"data":[\#(records.joined(separator: ","))],"meta":{"current_page":\#(page),"per_page":\#(pageSize),"total":\#(selected.count)}}"#
    }

    static func makeServer() -> FakeAPIServer {
        FakeAPIServer { request in
            guard request.header("Authorization") == expectedToken else { return .json(#"{"error":"unauthorized"}"#, status: 401) }
            let parts = request.path.split(separator: "/").map(String.init)
            if parts.count == 1, let pages = goCardless[parts[0]] {
                guard let body = pages[request.query["after"] ?? ""] else { return .json(#"{"error":"bad cursor"}"#, status: 404) }
                return .json(body)
            }
            if parts.count == 2, parts[0] == "activity" {
                return .json(mailerSendPage(dateFrom: Int(request.query["date_from"] ?? "0") ?? 0,
                                            page: Int(request.query["page"] ?? "1") ?? 1,
                                            pageSize: Int(request.query["page_size"] ?? "100") ?? 100))
            }
            return .json(#"{"error":"not found"}"#, status: 404)
        }
    }
}

import Foundation
