import Foundation
import HubCore
import HubCrypto
import HubQueue
import Logging
import PostgresNIO

/// The hub's own jobs: what the worker and scheduler roles run before any connector exists.
enum MaintenanceJobs {
    static let queue = "maintenance"
    static let pruneKind = "hub.prune_jobs"

    static func handlers(client: PostgresClient, keyring: Keyring, retention: Duration, policy: RetentionPolicy,
                         logger: Logger) -> [String: JobHandler] {
        [
            pruneKind: { context in
                let pruned = try await JobQueue(client: client, logger: context.logger).prune(
                    finalizedBefore: Date().addingTimeInterval(-retention.inSeconds)
                )
                let report = try await policy.apply(client: client, keyring: keyring, logger: context.logger)
                context.logger.info("pruned finished jobs and expired history", metadata: [
                    "hub.jobs.pruned": "\(pruned)", "hub.runs.pruned": "\(report.runs)",
                    "hub.webhooks.payloads_erased": "\(report.webhookPayloads)", "hub.webhooks.pruned": "\(report.webhookRows)",
                    "hub.audit.pruned": "\(report.auditEntries)", "hub.records.purged": "\(report.deletedRecords)",
                    "hub.credentials.orphans_collected": "\(report.orphanedCredentials)",
                    "hub.tenants.shreds_finished": "\(report.finishedShreds)",
                ])
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
