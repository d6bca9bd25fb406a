import Foundation
import HubCore
import HubQueue
import Logging
import PostgresNIO

/// The hub's own jobs: what the worker and scheduler roles run before any connector exists.
enum MaintenanceJobs {
    static let queue = "maintenance"
    static let pruneKind = "hub.prune_jobs"

    static func handlers(client: PostgresClient, retention: Duration, logger: Logger) -> [String: JobHandler] {
        [
            pruneKind: { context in
                let pruned = try await JobQueue(client: client, logger: context.logger).prune(
                    finalizedBefore: Date().addingTimeInterval(-retention.inSeconds)
                )
                context.logger.info("pruned finished jobs", metadata: ["hub.jobs.pruned": "\(pruned)"])
                return .completed
            }
        ]
    }

    static let schedules: [PeriodicSchedule] = [
        PeriodicSchedule(name: pruneKind, every: .seconds(3600)) { _ in
            JobRequest(kind: pruneKind, queue: queue, maxAttempts: 3, uniqueKey: pruneKind)
        }
    ]
}
