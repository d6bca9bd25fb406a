import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubQueue

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Inspect, retry and cancel jobs of the queue.",
        subcommands: [JobsListCommand.self, JobsShowCommand.self, JobsRetryCommand.self, JobsCancelCommand.self]
    )
}

extension JobState: ExpressibleByArgument {}

struct JobsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List jobs, newest first.",
        discussion: "Examples:\n  tributary jobs list --state discarded\n  tributary jobs list --queue sync --limit 200 --json"
    )

    @Option(help: "Only jobs in this state: \(JobState.allCases.map(\.rawValue).joined(separator: ", ")).") var state: JobState?
    @Option(help: "Only jobs of this queue.") var queue: String?
    @Option(help: "At most this many.") var limit = 50
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let jobs = try await CommandEnvironment.withStore { store in try await store.jobs.list(state: state, queue: queue, limit: limit) }
        if json {
            print(try CLIOutput.json(jobs.map(JobView.init)))
            return
        }
        guard !jobs.isEmpty else {
            print("no jobs match")
            return
        }
        print(CLIOutput.table(
            header: ["ID", "QUEUE", "KIND", "STATE", "ATTEMPT", "RUN AT"],
            rows: jobs.map { ["\($0.id)", $0.queue, $0.kind, $0.state.rawValue, "\($0.attempt)/\($0.maxAttempts)", $0.runAt.formatted(.iso8601)] }
        ))
    }
}

struct JobsShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one job with its error history.", discussion: "Example:\n  tributary jobs show 42"
    )

    @Argument(help: "The job id.") var id: Int64
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let job = try await CommandEnvironment.withStore { store in try await store.jobs.job(id) }
        if json {
            print(try CLIOutput.json(JobView(job)))
            return
        }
        print("job \(job.id): \(job.kind) on queue \(job.queue), \(job.state.rawValue), attempt \(job.attempt) of \(job.maxAttempts)")
        print("  run at \(job.runAt.formatted(.iso8601)), created \(job.createdAt.formatted(.iso8601))")
        if let owner = job.leaseOwner { print("  held by \(owner)") }
        if let key = job.uniqueKey { print("  unique key \(key)") }
        print("  args \(job.args.canonicalJSON)")
        if job.progress != .null { print("  progress \(job.progress.canonicalJSON)") }
        if case .array(let errors) = job.errors, !errors.isEmpty {
            print("  errors:")
            for error in errors {
                print("    attempt \(error["attempt"]?.scalarText ?? "?") at \(error["at"]?.scalarText ?? "?"): \(error["error"]?.scalarText ?? "")")
            }
        }
    }
}

struct JobsRetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Run a discarded, cancelled or completed job again, with a fresh attempt budget.",
        discussion: "Example:\n  tributary jobs retry 42"
    )

    @Argument(help: "The job id.") var id: Int64

    func run() async throws {
        try await CommandEnvironment.withStore { store in try await store.jobs.retry(id) }
        print("job \(id) will run again")
    }
}

struct JobsCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a waiting job, or ask a running one to stop.",
        discussion: "Example:\n  tributary jobs cancel 42"
    )

    @Argument(help: "The job id.") var id: Int64

    func run() async throws {
        let state = try await CommandEnvironment.withStore { store in try await store.jobs.cancel(id) }
        print(state == .running ? "job \(id) is running; its worker was asked to stop" : "job \(id) cancelled")
    }
}

/// A job as `--json` prints it.
struct JobView: Encodable {
    let id: Int64, kind: String, queue: String, state: String, attempt: Int, maxAttempts: Int, priority: Int
    let runAt: Date, createdAt: Date, finalizedAt: Date?, leaseOwner: String?, uniqueKey: String?, groupKey: String?
    let args: JSONValue, errors: JSONValue, progress: JSONValue

    init(_ job: JobRecord) {
        id = job.id; kind = job.kind; queue = job.queue; state = job.state.rawValue; attempt = job.attempt
        maxAttempts = job.maxAttempts; priority = job.priority; runAt = job.runAt; createdAt = job.createdAt
        finalizedAt = job.finalizedAt; leaseOwner = job.leaseOwner; uniqueKey = job.uniqueKey; groupKey = job.groupKey
        args = job.args; errors = job.errors; progress = job.progress
    }
}
