import HubCore

/// One tenant's share of a grouped queue (the sync queue): how many turns it takes between
/// the tenants with jobs waiting, and how many of its jobs may run at once across every
/// worker. Stored in `job_shares`, read by every claim, so a change holds from the next claim
/// on, in every worker process.
///
/// A nil field inherits the queue's default share (`QueueShare.defaultKey`), and the default's
/// nil fields mean weight 1 and no cap.
public struct QueueShare: Sendable, Equatable {
    /// The share key of the default, which applies to every tenant without a share of its own.
    /// Tenant keys are UUIDs, so it can never name a tenant.
    public static let defaultKey = "*"
    /// A tenant with weight 100 takes a hundred turns for one of a weight-1 tenant; more
    /// would starve the others in all but name.
    public static let weights = 1...100
    /// At most this many running jobs per tenant, the most any queue's slots allow.
    public static let runningLimits = 1...10_000

    public var weight: Int?
    public var maxRunning: Int?

    public init(weight: Int? = nil, maxRunning: Int? = nil) {
        self.weight = weight
        self.maxRunning = maxRunning
    }

    /// Whether the share says nothing of its own (its row can go).
    public var inheritsEverything: Bool { weight == nil && maxRunning == nil }

    /// Refuses values outside the bounds, naming the field.
    public func validate() throws {
        if let weight, !Self.weights.contains(weight) {
            throw HubError(.invalidInput, "weight must be from \(Self.weights.lowerBound) to \(Self.weights.upperBound), not \(weight)")
        }
        if let maxRunning, !Self.runningLimits.contains(maxRunning) {
            throw HubError(
                .invalidInput,
                "max_running must be from \(Self.runningLimits.lowerBound) to \(Self.runningLimits.upperBound), not \(maxRunning)"
            )
        }
    }
}
