import HubCore

/// Where a database's schema stands against the migrations in this binary.
public struct MigrationStatus: Sendable {
    public struct Applied: Sendable {
        public let name: String
        public let checksum: String
    }

    /// Applied, in order.
    public let applied: [Applied]
    /// In the binary, not applied yet.
    public let pending: [Migration]
    /// Applied by a newer binary; this one doesn't know them.
    public let unknown: [String]
    /// Applied files whose text changed since (name of the file).
    public let changed: [String]
    /// Which files: `migrations` (the main database) or `migrations-vault` (the vault).
    public var folder = "migrations"
    private var database: String { folder == "migrations" ? "the database" : "the vault database" }

    public var isCurrent: Bool { pending.isEmpty && unknown.isEmpty && changed.isEmpty }

    /// The error a role throws when it refuses to start on this schema, or nil when current.
    public var refusal: HubError? {
        if let name = changed.first {
            return HubError(
                .migrationChecksumMismatch,
                "\(folder)/\(name) was edited after it was applied to \(database); restore it and add a new migration instead"
            )
        }
        if !unknown.isEmpty {
            return HubError(
                .schemaTooNew,
                "\(database) has migrations this binary does not know (\(unknown.joined(separator: ", "))); run a newer tributary"
            )
        }
        if !pending.isEmpty {
            return HubError(
                .schemaOutOfDate,
                "\(database)'s schema is out of date (\(pending.count) pending migration\(pending.count == 1 ? "" : "s"), first \(pending[0].name)); run `tributary migrate`"
            )
        }
        return nil
    }
}
