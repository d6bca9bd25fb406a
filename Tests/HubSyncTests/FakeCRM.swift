import Foundation
import Synchronization
import TributaryTestSupport

/// A CRM-like API: `GET /contacts?limit=N&cursor=C&updated_since=T` answering
/// `{"data": [...], "next_cursor": C|null}`, bearer-authenticated, with faults injected by
/// request number — the behaviours the sync tests need from a real SaaS API.
final class FakeCRM: Sendable {
    enum Fault: Sendable {
        case status(Int, retryAfter: Int? = nil)
        case body(String)
        /// A status with a body of the test's choosing (an API echoing what it was sent).
        case reply(Int, String)
        case delay(Duration)
    }

    let token = "sk_live_crm_secret_value"
    private let contacts: Mutex<[[String: String]]>
    private let faults: Mutex<[Int: Fault]>
    private let requestCount = Mutex(0)
    private let queries = Mutex<[[String: String]]>([])
    /// Delay every page by this much (for the crash test).
    let pageDelay: Duration

    init(count: Int, pageDelay: Duration = .zero) {
        self.pageDelay = pageDelay
        contacts = Mutex((1...max(count, 1)).prefix(count).map { FakeCRM.contact($0, version: 0) })
        faults = Mutex([:])
    }

    static func contact(_ id: Int, version: Int) -> [String: String] {
        // One contact a minute from 2024-01-01, in a stable order.
        let minute = id + version * 100_000
        let updated = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: 1_704_067_200 + Double(minute * 60)))
        return ["id": "c\(id)", "name": "Contact \(id)\(version > 0 ? " v\(version)" : "")",
                "email": "Person\(id)@Example.com", "phone": "+1 (555) \(String(format: "%04d", id % 10_000))",
                "updated_at": updated]
    }

    var requests: Int { requestCount.withLock { $0 } }
    /// Every authorized request's query parameters, in arrival order.
    var requestLog: [[String: String]] { queries.withLock { $0 } }

    func inject(_ fault: Fault, atRequest number: Int) { faults.withLock { $0[number] = fault } }

    func update(_ id: Int, version: Int) {
        contacts.withLock { all in
            if let index = all.firstIndex(where: { $0["id"] == "c\(id)" }) { all[index] = FakeCRM.contact(id, version: version) }
        }
    }

    func remove(_ id: Int) { contacts.withLock { $0.removeAll { $0["id"] == "c\(id)" } } }

    func makeServer() -> FakeAPIServer {
        FakeAPIServer { request in
            let number = self.requestCount.withLock { $0 += 1; return $0 }
            if self.pageDelay > .zero { try? await Task.sleep(for: self.pageDelay) }
            switch self.faults.withLock({ $0[number] }) {
            case .status(let code, let retryAfter)?:
                return .init(status: code, body: Array(#"{"error":"injected"}"#.utf8),
                             headers: retryAfter.map { [("Retry-After", "\($0)")] } ?? [])
            case .body(let text)?: return .json(text)
            case .reply(let code, let text)?: return .init(status: code, body: Array(text.utf8), headers: [("Content-Type", "application/json")])
            case .delay(let duration)?: try? await Task.sleep(for: duration)
            case nil: break
            }
            guard request.header("Authorization") == "Bearer \(self.token)" else {
                return .json(#"{"error":"unauthorized"}"#, status: 401)
            }
            guard request.path == "/contacts" else { return .json(#"{"error":"not found"}"#, status: 404) }
            self.queries.withLock { $0.append(request.query) }
            // `segment=N`: only contacts whose number is N modulo 3, for the partitioned manifest.
            let segment = request.query["segment"].flatMap { Int($0) }
            let limit = Int(request.query["limit"] ?? "100") ?? 100
            let offset = Int(request.query["cursor"] ?? "0") ?? 0
            let since = request.query["updated_since"] ?? ""
            let all = self.contacts.withLock { $0 }.filter { ($0["updated_at"] ?? "") >= since }
                .filter { contact in segment.map { Int(contact["id"]!.dropFirst())! % 3 == $0 } ?? true }
                .sorted { ($0["updated_at"]!, $0["id"]!) < ($1["updated_at"]!, $1["id"]!) }
            let page = all.dropFirst(offset).prefix(limit)
            let next = offset + page.count < all.count ? "\"\(offset + page.count)\"" : "null"
            let records = page.map { contact in
                "{" + contact.keys.sorted().map { "\"\($0)\":\"\(contact[$0]!)\"" }.joined(separator: ",") + "}"
            }
            return .json(#"{"data":[\#(records.joined(separator: ","))],"next_cursor":\#(next)}"#)
        }
    }

    static let manifest = """
        version: 6.0.0
        type: DeclarativeSource
        definitions:
          requester:
            type: HttpRequester
            url_base: "{{ config['base_url'] }}"
            http_method: GET
            authenticator:
              type: BearerAuthenticator
              api_token: "{{ config['api_key'] }}"
            error_handler:
              type: DefaultErrorHandler
              max_retries: 3
              backoff_strategies:
                - type: ConstantBackoffStrategy
                  backoff_time_in_seconds: 0.01
        streams:
          - type: DeclarativeStream
            name: contacts
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester:
                $ref: "#/definitions/requester"
                path: /contacts
              record_selector:
                type: RecordSelector
                extractor:
                  type: DpathExtractor
                  field_path: [data]
              paginator:
                type: DefaultPaginator
                page_size_option: {type: RequestOption, inject_into: request_parameter, field_name: limit}
                page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: cursor}
                pagination_strategy:
                  type: CursorPagination
                  page_size: 500
                  cursor_value: "{{ response.next_cursor }}"
            incremental_sync:
              type: DatetimeBasedCursor
              cursor_field: updated_at
              datetime_format: "%Y-%m-%dT%H:%M:%SZ"
              start_datetime: "{{ config['start_date'] }}"
              start_time_option: {type: RequestOption, inject_into: request_parameter, field_name: updated_since}
        spec:
          connection_specification:
            type: object
            required: [base_url, api_key, start_date]
            properties:
              base_url: {type: string}
              api_key: {type: string, airbyte_secret: true}
              start_date: {type: string}
        """

    /// The same stream split into three segments by a `ListPartitionRouter`.
    static let partitionedManifest = manifest.replacingOccurrences(
        of: "    retriever:\n      type: SimpleRetriever\n",
        with: """
                retriever:
                  type: SimpleRetriever
                  partition_router:
                    type: ListPartitionRouter
                    values: ["0", "1", "2"]
                    cursor_field: segment
                    request_option: {type: RequestOption, inject_into: request_parameter, field_name: segment}

            """
    )

    static let sidecar = """
        schedule: PT1H
        account_concurrency: 2
        streams:
          contacts:
            sensitive: [email, phone]
            blind_index:
              email: lowercase_trim
              phone: digits
        """
}
