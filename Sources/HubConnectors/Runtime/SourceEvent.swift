/// What reading a stream produces, in order: the shape of Airbyte's protocol messages.
public enum SourceEvent: Sendable {
    case started(stream: String)
    case running(stream: String)
    /// The API answered a request with a rate limit (a response handled as `RATE_LIMITED`);
    /// the request waits and retries. The CDK reports it as a RUNNING status with a reason.
    case rateLimited(stream: String)
    case record(stream: String, data: PyValue)
    /// A page's records at once (what the sync consumes; protocol output expands it).
    case records(stream: String, data: [PyValue])
    /// The stream's state after a slice: records before it are covered by it.
    case state(stream: String, state: PyValue)
    /// The stream completed without reading everything (an ignored response ended a slice's
    /// pagination): records not seen are not known to be gone.
    case cutShort(stream: String, reason: String)
    case complete(stream: String)
    case incomplete(stream: String, error: String)
    /// A page was fetched (progress).
    case page(stream: String, records: Int)
}
