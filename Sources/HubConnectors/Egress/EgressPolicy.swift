import Foundation
import HubCore

/// Where the engine may send requests. Every request it makes, and every redirect it follows,
/// goes to a host whose *resolved* addresses are checked here first: loopback, link-local,
/// private, unique-local, shared, multicast and unspecified addresses are refused unless an
/// operator allows a range (`TRIBUTARY_EGRESS_ALLOW`). A connection's `url_base`, a response's
/// absolute next-page URL and a redirect are all chosen by someone outside; without this they
/// could point a worker at 169.254.169.254, the api's `/metrics` or PostgreSQL's port, and hand
/// the answer back as records or in an error.
///
/// What it cannot see: a name that resolves to a public address here and to a private one when
/// the connection is made an instant later (DNS rebinding). docs/security.md says what closes
/// that gap at the network level.
public struct EgressPolicy: Sendable {
    /// The environment variable operators set: comma-separated CIDR ranges or addresses.
    public static let variable = "TRIBUTARY_EGRESS_ALLOW"

    /// Ranges an operator allowed, checked before the refused ones.
    public var allowed: [IPRange]
    public var resolver: any HostResolver

    public init(allowed: [IPRange] = [], resolver: any HostResolver = SystemHostResolver()) {
        self.allowed = allowed
        self.resolver = resolver
    }

    /// Parses `TRIBUTARY_EGRESS_ALLOW`'s value: `127.0.0.1/32,10.1.0.0/16,::1` (empty: none).
    public static func parseAllowList(_ text: String) throws -> [IPRange] {
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { entry in
            guard let range = IPRange(entry) else {
                throw HubError(.invalidInput, "\(variable): \"\(entry)\" is not an IP address or CIDR range (such as 10.0.0.0/8 or ::1/128)")
            }
            return range
        }
    }

    /// The policy an environment asks for: `TRIBUTARY_EGRESS_ALLOW` read, nothing else allowed.
    public static func fromEnvironment(_ environment: [String: String]) throws -> EgressPolicy {
        EgressPolicy(allowed: try parseAllowList(environment[variable] ?? ""))
    }

    /// Ranges refused unless allowed, each with what it is, for the error.
    static let refused: [(IPRange, String)] = [
        ("0.0.0.0/8", "unspecified (\"this network\")"), ("127.0.0.0/8", "loopback"), ("10.0.0.0/8", "private (RFC 1918)"),
        ("172.16.0.0/12", "private (RFC 1918)"), ("192.168.0.0/16", "private (RFC 1918)"),
        ("169.254.0.0/16", "link-local (cloud metadata lives here)"), ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("192.0.0.0/24", "IETF protocol assignment"), ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
        ("::/96", "unspecified or IPv4-compatible"), ("::1/128", "loopback"), ("fe80::/10", "link-local"),
        ("fc00::/7", "unique-local"), ("ff00::/8", "multicast"),
    ].compactMap { text, kind in IPRange(text).map { ($0, kind) } }

    /// What an address is, when the policy refuses it; nil when a request may go there.
    public func refusal(of address: [UInt8]) -> String? {
        let candidates = [address] + (Self.embeddedIPv4(address).map { [$0] } ?? [])
        for candidate in candidates where allowed.contains(where: { $0.contains(candidate) }) { return nil }
        for candidate in candidates {
            if let (_, kind) = Self.refused.first(where: { $0.0.contains(candidate) }) { return kind }
        }
        return nil
    }

    /// Checks a URL before a request goes to it: http or https only, a host, and every address
    /// the host resolves to allowed. Returns the parsed URL.
    @discardableResult
    public func check(_ text: String) async throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw EgressRefused(host: AsyncHTTPTransport.redacted(text), reason: "it is not a URL")
        }
        // AsyncHTTPClient also speaks `unix` and `http+unix`: a socket on this machine.
        guard scheme == "http" || scheme == "https" else {
            throw EgressRefused(host: AsyncHTTPTransport.redacted(text), reason: "only http and https URLs may be requested, not \(scheme)")
        }
        guard var host = url.host, !host.isEmpty else { throw EgressRefused(host: AsyncHTTPTransport.redacted(text), reason: "the URL has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        _ = try await addresses(of: host)
        return url
    }

    /// Resolves a host and checks every address it has; returns them (never empty). A
    /// connection made to one of these, rather than to the name again, is the one checked.
    public func addresses(of host: String) async throws -> [[UInt8]] {
        let addresses = try await resolver.addresses(of: host)
        guard !addresses.isEmpty else { throw EgressRefused(host: host, reason: "it does not resolve") }
        for address in addresses {
            if let kind = refusal(of: address) {
                let shown = IPRange.format(address)
                let suffix = address.count == 4 ? 32 : 128
                throw EgressRefused(host: host, reason: "it resolves to \(shown), a \(kind) address; an operator can allow it with "
                                    + "\(Self.variable)=\(shown)/\(suffix)")
            }
        }
        return addresses
    }

    /// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`)
    /// IPv6 address: the connection goes to that IPv4 address, so it is what is checked.
    static func embeddedIPv4(_ address: [UInt8]) -> [UInt8]? {
        guard address.count == 16 else { return nil }
        let mapped = address[0..<10].allSatisfy { $0 == 0 } && address[10] == 0xff && address[11] == 0xff
        let nat64 = address[0..<12] == [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]
        return mapped || nat64 ? Array(address[12..<16]) : nil
    }
}

/// A request the egress policy refused: it names the host, the address and the setting that
/// would allow it. Never retried: asking again reaches the same address.
public struct EgressRefused: Error, Sendable, CustomStringConvertible {
    public let host: String
    public let reason: String

    public init(host: String, reason: String) {
        self.host = host
        self.reason = reason
    }

    public var description: String { "egress refused for \(host): \(reason)" }
}
