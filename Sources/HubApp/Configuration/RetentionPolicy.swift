import Foundation
import HubCore
import HubCrypto
import HubStore
import Logging
import PostgresNIO

/// How long what accumulates is kept; the hourly `hub.prune_jobs` maintenance job applies it.
/// Every table that grows with use has its line here or in its owner's docs
/// (docs/operations.md lists them all).
public struct RetentionPolicy: Sendable, Equatable {
    /// Finished sync runs (each stream's latest is always kept).
    public var runs: Duration = .seconds(90 * 86_400)
    /// Webhook payloads (personal data) are erased this long after receipt; the event's row
    /// stays for replay protection until `webhookRows`.
    public var webhookPayloads: Duration = .seconds(30 * 86_400)
    public var webhookRows: Duration = .seconds(365 * 86_400)
    /// Who read what in clear.
    public var auditLog: Duration = .seconds(365 * 86_400)
    /// Soft-deleted records are removed for good after this (the change feed shows deletions
    /// until then).
    public var deletedRecords: Duration = .seconds(30 * 86_400)

    public init() {}

    /// What one pass removed, for the log.
    public struct Report: Sendable, Equatable {
        public var runs = 0
        public var webhookPayloads = 0
        public var webhookRows = 0
        public var auditEntries = 0
        public var deletedRecords = 0
        /// Vault credentials whose connection was deleted (docs/vault.md, rule 2).
        public var orphanedCredentials = 0
        /// Shreds whose main-database half was finished (docs/vault.md, rule 6).
        public var finishedShreds = 0

        public init(runs: Int = 0, webhookPayloads: Int = 0, webhookRows: Int = 0, auditEntries: Int = 0, deletedRecords: Int = 0,
                    orphanedCredentials: Int = 0) {
            (self.runs, self.webhookPayloads, self.webhookRows) = (runs, webhookPayloads, webhookRows)
            (self.auditEntries, self.deletedRecords, self.orphanedCredentials) = (auditEntries, deletedRecords, orphanedCredentials)
        }
    }

    /// Applies the policy as of `now`.
    public func apply(client: PostgresClient, keyring: Keyring, logger: Logger, now: Date = Date()) async throws -> Report {
        func before(_ age: Duration) -> Date { now.addingTimeInterval(-age.inSeconds) }
        var report = Report()
        // First: a half-shredded tenant's API keys still answer until this runs, so no failure
        // of the steps below may hold it back.
        report.finishedShreds = try await KeyAdministration(client: client, keyring: keyring, logger: logger).finishInterruptedShreds()
        report.runs = try await RunStore(client: client, logger: logger).pruneRuns(finishedBefore: before(runs))
        let webhooks = try await WebhookInbox(client: client, keyring: keyring, logger: logger)
            .prune(payloadsBefore: before(webhookPayloads), rowsBefore: before(max(webhookRows, webhookPayloads)))
        report.webhookPayloads = webhooks.erased
        report.webhookRows = webhooks.deleted
        report.auditEntries = try await AuditLog(client: keyring.vault(or: client), logger: logger).prune(before: before(auditLog))
        report.deletedRecords = try await RecordWriter(client: client, keyring: keyring, logger: logger)
            .purgeDeleted(before: before(deletedRecords))
        report.orphanedCredentials = try await ConnectionStore(client: client, keyring: keyring, logger: logger)
            .collectOrphanedCredentials()
        return report
    }

    /// The environment variables that set it, in days.
    /// (Computed: key paths are not `Sendable`, so a stored table of them can't be global.)
    static var variables: [(name: String, keyPath: WritableKeyPath<RetentionPolicy, Duration>, meaning: String)] { [
        ("TRIBUTARY_RUN_RETENTION_DAYS", \.runs, "Days finished sync runs are kept (each stream's latest run always is)"),
        ("TRIBUTARY_WEBHOOK_RETENTION_DAYS", \.webhookPayloads,
         "Days webhook payloads are kept before they are erased (the event row stays a year, for replay protection)"),
        ("TRIBUTARY_AUDIT_RETENTION_DAYS", \.auditLog, "Days audit entries (reads of sensitive fields in clear) are kept"),
        ("TRIBUTARY_DELETED_RECORD_RETENTION_DAYS", \.deletedRecords, "Days soft-deleted records are kept before they are removed for good"),
    ] }
}
