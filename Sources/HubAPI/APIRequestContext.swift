import Hummingbird
import HubStore
import NIOCore

/// Per-request state of the API: its request id, and once authenticated, who it acts as.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// From `X-Request-Id` when the caller sent a sane one, else generated.
    public var requestID: String = ""
    public var identity: ApiIdentity?
    /// The TCP peer's IP address (a load balancer's, behind one; see `ClientAddress`).
    public let peerAddress: String?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
    }
}
