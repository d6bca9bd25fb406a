import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubQueue

struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "Show queue load, print it for an autoscaler, and pause or resume a queue.",
        discussion: """
            Examples:
              tributary queues list
              tributary queues metrics --cloudwatch > metric-data.json
              aws cloudwatch put-metric-data --cli-input-json file://metric-data.json
              tributary queues pause sync
              tributary queues resume sync
            """,
        subcommands: [QueuesListCommand.self, QueuesMetricsCommand.self, QueuesPauseCommand.self, QueuesResumeCommand.self]
    )
}

struct QueuesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Each queue's load (jobs ready now, running, the oldest ready job's wait) and its jobs per state."
    )

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let known = try CommandEnvironment.configuration().workerQueues.map(\.name)
        let (load, depth) = try await CommandEnvironment.withStore(secrets: false) { store in
            (try await store.jobs.load(known: known), try await store.jobs.depth())
        }
        let states = Dictionary(grouping: depth, by: \.queue).mapValues { rows in
            Dictionary(uniqueKeysWithValues: rows.map { ($0.state.rawValue, $0.count) })
        }
        if json {
            struct Row: Encodable {
                let queue: String; let ready: Int; let running: Int; let oldestReadySeconds: Double; let paused: Bool; let jobs: [String: Int]
            }
            print(try CLIOutput.json(load.map {
                Row(queue: $0.queue, ready: $0.ready, running: $0.running, oldestReadySeconds: $0.oldestReadySeconds, paused: $0.paused,
                    jobs: states[$0.queue] ?? [:])
            }))
            return
        }
        let rows = load.map { queue in
            [queue.queue, "\(queue.ready)", "\(queue.running)", String(format: "%.0fs", queue.oldestReadySeconds), queue.paused ? "yes" : "no",
             (states[queue.queue] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]
        }
        print(CLIOutput.table(header: ["QUEUE", "READY", "RUNNING", "OLDEST READY", "PAUSED", "JOBS BY STATE"], rows: rows))
    }
}

struct QueuesMetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the autoscaling signal: jobs ready and the oldest ready job's wait, per queue.",
        discussion: """
            Without a format, JSON lines of {queue, ready, running, oldest_ready_seconds, paused}.
            With --cloudwatch, the input of CloudWatch's PutMetricData (`aws cloudwatch put-metric-data
            --cli-input-json file://FILE`), for a sidecar or a cron job to send: QueueReadyJobs (Count)
            and QueueOldestReadyAge (Seconds), each with the dimension Queue. A worker scaling policy
            tracks QueueReadyJobs per worker; Tributary itself holds no AWS credentials for this.
            """
    )

    @Flag(help: "Print CloudWatch PutMetricData input.") var cloudwatch = false
    @Option(help: "The CloudWatch namespace (1 to 255 characters, not starting with AWS/).") var namespace = "Tributary"

    func validate() throws {
        guard !namespace.isEmpty, namespace.count <= 255, !namespace.hasPrefix("AWS/"), !namespace.contains(where: { $0.isNewline || $0 == ":" }) else {
            throw ValidationError("--namespace must be 1 to 255 characters, without ':' and not starting with AWS/ (got '\(namespace)')")
        }
    }

    func run() async throws {
        let known = try CommandEnvironment.configuration().workerQueues.map(\.name)
        let load = try await CommandEnvironment.withStore(secrets: false) { store in try await store.jobs.load(known: known) }
        guard cloudwatch else {
            for queue in load { print(try CLIOutput.json(queue)) }
            return
        }
        // Not CLIOutput.json: its snake_case keys would rename AWS's PascalCase ones.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(CloudWatchMetricData(namespace: namespace, load: load, at: Date())), as: UTF8.self))
    }
}

/// PutMetricData's input, as the AWS CLI's `--cli-input-json` takes it (PascalCase keys).
struct CloudWatchMetricData: Encodable {
    struct Dimension: Encodable {
        let name: String
        let value: String
        enum CodingKeys: String, CodingKey { case name = "Name", value = "Value" }
    }

    struct Datum: Encodable {
        let metricName: String
        let dimensions: [Dimension]
        let timestamp: String
        let value: Double
        let unit: String
        enum CodingKeys: String, CodingKey {
            case metricName = "MetricName", dimensions = "Dimensions", timestamp = "Timestamp", value = "Value", unit = "Unit"
        }
    }

    let namespace: String
    let metricData: [Datum]
    enum CodingKeys: String, CodingKey { case namespace = "Namespace", metricData = "MetricData" }

    init(namespace: String, load: [QueueLoad], at date: Date) {
        self.namespace = namespace
        let timestamp = date.formatted(.iso8601)
        metricData = load.flatMap { queue in
            let dimensions = [Dimension(name: "Queue", value: queue.queue)]
            return [Datum(metricName: "QueueReadyJobs", dimensions: dimensions, timestamp: timestamp, value: Double(queue.ready), unit: "Count"),
                    Datum(metricName: "QueueOldestReadyAge", dimensions: dimensions, timestamp: timestamp, value: queue.oldestReadySeconds.rounded(), unit: "Seconds")]
        }
    }
}

struct QueuesPauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Stop workers claiming jobs of a queue (running jobs finish).")

    @Argument(help: "The queue name.") var name: String

    func run() async throws {
        try await CommandEnvironment.withStore(secrets: false) { store in try await store.jobs.setPaused(true, queue: name) }
        print("queue \(name) paused: workers claim none of its jobs until `tributary queues resume \(name)`")
    }
}

struct QueuesResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Let workers claim jobs of a paused queue again.")

    @Argument(help: "The queue name.") var name: String

    func run() async throws {
        try await CommandEnvironment.withStore(secrets: false) { store in try await store.jobs.setPaused(false, queue: name) }
        print("queue \(name) resumed")
    }
}
