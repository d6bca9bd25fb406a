@testable import HubConnectors
import Testing

/// `use_cache` responses of one read are held within a byte budget.
@Suite("Response cache")
struct ResponseCacheTests {
    func response(_ size: Int) -> HTTPResponseData { HTTPResponseData(status: 200, headers: [], body: Array(repeating: 0x61, count: size)) }

    @Test("the oldest responses go once the budget is reached; one larger than the budget is not kept")
    func bounded() async {
        let cache = ResponseCache(budget: 100)
        await cache.store(response(40), for: "a")
        await cache.store(response(40), for: "b")
        await cache.store(response(40), for: "c")
        #expect(await cache.response(for: "a") == nil)
        #expect(await cache.response(for: "b")?.body.count == 40)
        #expect(await cache.response(for: "c")?.body.count == 40)
        #expect(await cache.heldBytes == 80)
        await cache.store(response(101), for: "huge")
        #expect(await cache.response(for: "huge") == nil)
        // Storing a key again replaces it without counting it twice.
        await cache.store(response(10), for: "c")
        #expect(await cache.heldBytes == 50)
    }
}
