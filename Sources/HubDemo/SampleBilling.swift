import Foundation
import HubCore
import Hummingbird
import Logging
import Synchronization

/// A billing system like the ones Tributary's users connect: customers (page-numbered, with
/// an `updated_since` filter) and each customer's invoices (a sub-resource), behind HTTP
/// Basic auth with the API key as the user name.
public final class SampleBilling: Sendable {
    public let apiKey: String
    let log: SampleAPIRequestLog
    private let data: DemoData

    public init(apiKey: String, data: DemoData, log: SampleAPIRequestLog) {
        self.apiKey = apiKey
        self.data = data
        self.log = log
    }

    public func application(logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.get("/customers") { request, _ in self.customers(request) }
        router.get("/customers/:id/invoices") { request, context in self.invoices(request, customer: context.parameters.get("id") ?? "") }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "sample-billing"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) }, logger: logger)
    }

    private func authorized(_ request: Request) -> Bool {
        request.headers[.authorization] == "Basic " + Data("\(apiKey):".utf8).base64EncodedString()
    }

    private func logged(_ request: Request, _ response: Response, records: Int = 0, stream: String) -> Response {
        log.append(.init(api: "billing", method: "GET", path: request.uri.path, query: request.uri.query ?? "",
                         status: Int(response.status.code), records: records, stream: stream))
        return response
    }

    private func customers(_ request: Request) -> Response {
        guard authorized(request) else {
            return logged(request, SampleResponse.error(.unauthorized, "authentication_required", "Invalid credentials"), stream: "customers")
        }
        let query = SampleResponse.query(request)
        guard let page = Int(query["page"] ?? "1"), page >= 1 else {
            return logged(request, SampleResponse.error(.badRequest, "invalid_page", "page must be a positive integer"), stream: "customers")
        }
        let perPage = min(max(Int(query["per_page"] ?? "") ?? 25, 1), 100)
        let since = Double(query["updated_since"] ?? "") ?? 0
        let rows = data.customers.filter { (($0["updated_at"].flatMap { if case .number(let n) = $0 { n } else { nil } }) ?? 0) >= since }
        let start = (page - 1) * perPage
        let slice = start < rows.count ? Array(rows[start..<min(start + perPage, rows.count)]) : []
        return logged(request, SampleResponse.json(.object([
            "customers": .array(slice.map(JSONValue.object)), "page": .number(Double(page)),
            "total_pages": .number(Double((rows.count + perPage - 1) / perPage)),
        ])), records: slice.count, stream: "customers")
    }

    private func invoices(_ request: Request, customer: String) -> Response {
        guard authorized(request) else {
            return logged(request, SampleResponse.error(.unauthorized, "authentication_required", "Invalid credentials"), stream: "invoices")
        }
        guard let invoices = data.invoices[customer] else {
            return logged(request, SampleResponse.error(.notFound, "resource_missing", "No such customer: \(customer)"), stream: "invoices")
        }
        return logged(request, SampleResponse.json(.object(["invoices": .array(invoices.map(JSONValue.object))])),
                      records: invoices.count, stream: "invoices")
    }
}
