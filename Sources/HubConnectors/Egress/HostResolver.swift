import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a host name into the addresses a connection to it would use. The egress policy checks
/// those addresses, not the name: `metadata.example.com` may well resolve to 169.254.169.254.
public protocol HostResolver: Sendable {
    /// Every address `host` resolves to, 4 or 16 bytes each; throws when it resolves to none.
    func addresses(of host: String) async throws -> [[UInt8]]
}

/// The system's resolver (`getaddrinfo`, as NIO uses when it connects), so the policy sees the
/// names the way the connection will. `getaddrinfo` blocks, so it runs on NIO's blocking-I/O
/// thread pool, never on the cooperative pool.
public struct SystemHostResolver: HostResolver {
    public init() {}

    public func addresses(of host: String) async throws -> [[UInt8]] {
        // An address literal needs no lookup (and getaddrinfo reads some odd forms, such as
        // `2130706433`, as addresses too: they go through it below and come out checked).
        if let literal = IPRange.parseAddress(host) { return [literal] }
        let found = try await NIOThreadPool.singleton.runIfActive { () throws -> [[UInt8]] in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, nil, &hints, &list)
            guard status == 0, let first = list else {
                throw EgressRefused(host: host, reason: "it does not resolve (\(String(cString: gai_strerror(status))))")
            }
            defer { freeaddrinfo(first) }
            var result: [[UInt8]] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let entry = cursor {
                if let socket = entry.pointee.ai_addr {
                    switch Int32(socket.pointee.sa_family) {
                    case AF_INET:
                        socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                            var address = v4.pointee.sin_addr
                            result.append(withUnsafeBytes(of: &address) { Array($0) })
                        }
                    case AF_INET6:
                        socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                            var address = v6.pointee.sin6_addr
                            result.append(withUnsafeBytes(of: &address) { Array($0) })
                        }
                    default: break
                    }
                }
                cursor = entry.pointee.ai_next
            }
            return result
        }
        guard !found.isEmpty else { throw EgressRefused(host: host, reason: "it resolves to no IPv4 or IPv6 address") }
        return found
    }
}
