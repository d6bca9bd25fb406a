import Foundation

/// What the engine needs from its surroundings: the clock, how to wait, request timeouts,
/// and observers. Injected so tests freeze time and skip real back-off sleeps.
public struct EngineEnvironment: Sendable {
    public var now: @Sendable () -> PyDateTime
    public var sleep: @Sendable (Double) async throws -> Void
    public var requestTimeout: Duration
    /// Hand 429s back to the caller instead of sleeping through them (queue jobs do).
    public var rateLimitHandoff: Bool
    public var requestLog: (@Sendable (HTTPRequestData) -> Void)?
    /// Follow redirects (each hop checked by the egress policy): the connector's `hub.yaml`
    /// opts in with `follow_redirects: true`; off, a 3xx fails the request with what it was.
    public var followRedirects: Bool = false

    public init(now: @escaping @Sendable () -> PyDateTime = EngineEnvironment.systemNow,
                sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) },
                requestTimeout: Duration = .seconds(60), rateLimitHandoff: Bool = false,
                requestLog: (@Sendable (HTTPRequestData) -> Void)? = nil) {
        self.now = now
        self.sleep = sleep
        self.requestTimeout = requestTimeout
        self.rateLimitHandoff = rateLimitHandoff
        self.requestLog = requestLog
    }

    /// The wall clock in microseconds. Through Foundation's `Date` rather than `timespec`: once
    /// FoundationXML is linked, CoreFoundation declares `timespec` too, and a static-stdlib
    /// build then refuses Glibc's fields as ambiguous.
    public static let systemNow: @Sendable () -> PyDateTime = {
        PyDateTime(wallMicros: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded(.down)), offset: 0)
    }
}
