import Foundation
import HubCore
import HubQueue
import HubStore
import Hummingbird
import Logging
import PostgresNIO

/// `/v1/jobs` for operator keys (`admin`): inspect the queue, retry discarded jobs, cancel
/// waiting or running ones.
struct JobsController: Sendable {
    let client: PostgresClient
    let logger: Logger

    func addRoutes(to routes: RouterGroup<APIRequestContext>) {
        let group = routes.group(context: OperatorRequestContext.self)
        group.get("/jobs") { request, context in try await list(request, context) }
        group.get("/jobs/:id") { _, context in try await show(context) }
        group.post("/jobs/:id/retry") { _, context in try await retry(context) }
        group.post("/jobs/:id/cancel") { _, context in try await cancel(context) }
    }

    var queue: JobQueue { JobQueue(client: client, logger: logger) }

    func jobID(_ context: OperatorRequestContext) throws -> Int64 {
        guard let raw = context.parameters.get("id"), let id = Int64(raw), id > 0 else { throw Problem.invalid(["id": "must be a job id (a positive integer)"]) }
        return id
    }

    func list(_ request: Request, _ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        let query = request.uri.queryParameters
        var errors: [String: String] = [:]
        var state: JobState?
        if let raw = query["state"] {
            if let parsed = JobState(rawValue: String(raw)) { state = parsed } else {
                errors["state"] = "must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))"
            }
        }
        let page = PageRequest.parse(request, kind: "jobs", errors: &errors)
        let before = page.after.map { Int64($0) }
        if before == .some(nil) { errors["cursor"] = "is not a cursor this list returned" }
        if !errors.isEmpty { throw Problem.invalid(errors) }
        let found = try await queue.list(state: state, queue: query["queue"].map(String.init), limit: page.limit + 1, before: before ?? nil)
        let jobs = Array(found.prefix(page.limit))
        let next: JSONValue = found.count > page.limit ? .string(ListCursor.encode(String(jobs.last!.id), kind: "jobs")) : .null
        return try JSONResponse.make(.object(["data": .array(jobs.map(Self.json)), "next_cursor": next]))
    }

    func show(_ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        return try JSONResponse.make(Self.json(try await queue.job(try jobID(context))))
    }

    func retry(_ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        let id = try jobID(context)
        try await queue.retry(id)
        return try JSONResponse.make(Self.json(try await queue.job(id)))
    }

    func cancel(_ context: OperatorRequestContext) async throws -> Response {
        try context.require(.admin)
        let id = try jobID(context)
        _ = try await queue.cancel(id)
        return try JSONResponse.make(Self.json(try await queue.job(id)))
    }

    static func json(_ job: JobRecord) -> JSONValue {
        .object([
            "id": .number(Double(job.id)), "kind": .string(job.kind), "queue": .string(job.queue), "args": job.args,
            "state": .string(job.state.rawValue), "attempt": .number(Double(job.attempt)),
            "max_attempts": .number(Double(job.maxAttempts)), "run_at": .string(RFC3339.string(job.runAt)),
            "errors": job.errors, "progress": job.progress, "created_at": .string(RFC3339.string(job.createdAt)),
            "finalized_at": job.finalizedAt.map { .string(RFC3339.string($0)) } ?? .null,
        ])
    }
}
