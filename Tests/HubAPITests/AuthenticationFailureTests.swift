@testable import HubAPI
import HubConnectors
import HubCore
import Testing

/// Requests with made-up keys each cost a database lookup: an address that sends too many is
/// answered 429 before any lookup, and a client cannot dodge that with a forged header.
@Suite("Failed authentication limit")
struct AuthenticationFailureTests {
    @Test("past its burst of failures an address gets 429 before any key is looked up, valid key or not")
    func failuresAreLimitedPerAddress() async throws {
        let api = APIWorld()
        try await api.withWorld(authFailureBurst: 3) { world in
            let url = "\(world.baseURL)/v1/connections"
            for key: String? in [nil, "trb_nope_nope", "not even a key"] {
                #expect(try await api.get(url, key: key).status == 401)
            }
            let limited = try await api.get(url, key: world.readA)
            #expect(limited.status == 429)
            #expect(limited.headers["retry-after"] != nil)
            #expect(limited.json["code"] == .string("rate_limited"))
            // From an untrusted peer, X-Forwarded-For is the client's own claim: ignored.
            let forged = try await api.get(url, key: world.readA, headers: ["X-Forwarded-For": "203.0.113.9"])
            #expect(forged.status == 429)
        }
    }

    @Test("behind a trusted proxy each forwarded client has its own budget")
    func trustedProxiesForwardTheClient() async throws {
        let api = APIWorld()
        let loopback = try #require(IPRange("127.0.0.1/32"))
        try await api.withWorld(authFailureBurst: 2, trustedProxies: [loopback]) { world in
            let url = "\(world.baseURL)/v1/connections"
            let attacker = ["X-Forwarded-For": "203.0.113.7"]
            for _ in 0..<2 {
                let refused = try await api.get(url, key: "trb_nope_nope", headers: attacker)
                #expect(refused.status == 401)
            }
            let limited = try await api.get(url, key: world.readA, headers: attacker)
            #expect(limited.status == 429)
            // Another client through the same proxy is unaffected; one that prepends a forged
            // entry is not (only what the trusted proxy appended counts).
            let other = try await api.get(url, key: world.readA, headers: ["X-Forwarded-For": "203.0.113.9"])
            #expect(other.status == 200)
            let forged = try await api.get(url, key: world.readA, headers: ["X-Forwarded-For": "203.0.113.9, 203.0.113.7"])
            #expect(forged.status == 429)
        }
    }

    @Test("the client address: the peer, or the nearest untrusted X-Forwarded-For entry behind trusted proxies")
    func clientAddress() throws {
        let proxies = [try #require(IPRange("10.0.0.0/8"))]
        #expect(ClientAddress.resolve(peer: "198.51.100.1", forwardedFor: "203.0.113.5", trusted: proxies) == "198.51.100.1")
        #expect(ClientAddress.resolve(peer: "10.0.0.2", forwardedFor: "203.0.113.5", trusted: proxies) == "203.0.113.5")
        #expect(ClientAddress.resolve(peer: "10.0.0.2", forwardedFor: "1.2.3.4, 203.0.113.5, 10.0.0.9", trusted: proxies) == "203.0.113.5")
        #expect(ClientAddress.resolve(peer: "10.0.0.2", forwardedFor: "garbage", trusted: proxies) == "10.0.0.2")
        #expect(ClientAddress.resolve(peer: "10.0.0.2", forwardedFor: nil, trusted: proxies) == "10.0.0.2")
    }

    @Test("buckets for invented keys stay bounded")
    func limiterIsBounded() {
        let limiter = RateLimiter<String>(rate: 1, burst: 5, capacity: 10)
        for index in 0..<1_000 { _ = limiter.take("client-\(index)") }
        #expect(limiter.count <= 10)
        // A spent bucket survives eviction of refilled ones.
        let busy = RateLimiter<String>(rate: 0.001, burst: 1, capacity: 2)
        _ = busy.take("attacker")
        for index in 0..<50 { _ = busy.take("client-\(index)") }
        #expect(busy.count <= 2)
    }
}
