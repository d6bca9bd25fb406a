import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubStore
import HubSync

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync a connection now: one job per stream, with live progress.",
        discussion: """
            Jobs run on the worker role (`tributary serve --role worker`, or `tributary dev`);
            with --local this command runs them itself. It waits for every stream, printing
            records, pages and records/s, and exits 1 when any stream failed.

            Examples:
              tributary sync $CONNECTION --local
              tributary sync $CONNECTION --stream payments --full-refresh
            """
    )

    @Argument(help: "The connection id.") var connection: String
    @Option(help: "Only this stream (repeatable).") var stream: [String] = []
    @Flag(help: "Read everything again, ignoring saved state; records not seen are marked deleted.") var fullRefresh = false
    @Flag(help: "Run the sync jobs in this process instead of waiting for a worker.") var local = false
    @Flag(help: "Enqueue and return without waiting.") var noWait = false

    func run() async throws {
        guard let id = UUID(uuidString: connection) else { throw ValidationError("the connection id must be a UUID") }
        let streams = stream.isEmpty ? nil : stream
        let fullRefresh = self.fullRefresh, local = self.local, noWait = self.noWait
        let failed = try await CommandEnvironment.withStore { store -> Bool in
            let started = try await store.syncService.start(connection: id, streams: streams, fullRefresh: fullRefresh)
            for entry in started { print("\(entry.stream): queued (job \(entry.job))") }
            if noWait { return false }
            let runs = started.map(\.run)
            let wait: @Sendable () async throws -> Bool = { try await Self.follow(runs: runs, store: store.runs) }
            return local ? try await store.withLocalSyncWorker(wait) : try await wait()
        }
        if failed { throw ExitCode(1) }
    }

    /// Prints progress until every run finished; true when one failed.
    static func follow(runs: [Int64], store: RunStore) async throws -> Bool {
        let reporter = ProgressReporter()
        let start = ContinuousClock.now
        var waitedForWorker = false
        while true {
            let current = try await store.runs(ids: runs)
            let done = current.allSatisfy(\.status.isFinal)
            let elapsed = max((ContinuousClock.now - start).inSeconds, 0.001)
            let lines = current.map { run -> String in
                let rate = Int(Double(run.recordsRead) / elapsed)
                return "\(run.stream): \(run.status.rawValue), \(run.recordsRead) records, \(run.pages) pages, \(rate) records/s"
                    + (run.recordsDeleted > 0 ? ", \(run.recordsDeleted) deleted" : "")
                    + (run.partitions > 0 ? ", \(run.partitionsSettled)/\(run.partitions) partitions" : "")
                    // Retried runs read part of the stream again: the totals count it twice.
                    + (run.attempts.count > 1 ? ", \(run.attempts.count) attempts (the last read \(run.attempts.lastRead))" : "")
            }
            reporter.report(lines.joined(separator: "\n"), final: done)
            if done {
                for run in current where run.status == .failed {
                    printError("\(run.stream) failed: \(run.error ?? "no error recorded")")
                }
                return current.contains { $0.status != .succeeded }
            }
            if !waitedForWorker, elapsed > 10, current.allSatisfy({ $0.status == .queued }) {
                waitedForWorker = true
                printError("waiting for a worker: start `tributary serve --role worker`, or run this with --local")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}
