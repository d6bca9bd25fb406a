import HubConnectors

/// The tests' fake third-party APIs serve on loopback, which the egress policy refuses unless
/// allowed: tests allow it as an operator would, with the same setting.
public enum LoopbackEgress {
    /// `TRIBUTARY_EGRESS_ALLOW`'s value for loopback.
    public static let allowList = "127.0.0.0/8,::1/128"
    public static let policy = EgressPolicy(allowed: (try? EgressPolicy.parseAllowList(allowList)) ?? [])
    public static let transport = AsyncHTTPTransport(egress: policy)
}
