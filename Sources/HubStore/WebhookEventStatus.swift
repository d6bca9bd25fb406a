/// What became of a received webhook event: the values of `webhook_events.status`.
public enum WebhookEventStatus: String, Sendable, CaseIterable, StoredStatus {
    /// Stored and acknowledged, not processed yet.
    case received
    case processed
    /// No route of the connector handles its type.
    case ignored
    case failed
}
