/// Whether a connection syncs: the values of `connections.status`.
public enum ConnectionStatus: String, Sendable, CaseIterable, StoredStatus {
    /// Synced on its schedule and on request.
    case active
    /// Kept, not synced until resumed.
    case paused
    /// Stopped by a failure that needs the user (a revoked credential, a removed connector).
    case error

    /// The statuses a user may set; `error` is the hub's to set.
    public static let settable: [ConnectionStatus] = [.active, .paused]
}
