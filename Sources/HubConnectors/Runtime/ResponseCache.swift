/// Successful GET responses by URL, for one read (requesters with `use_cache`), bounded in
/// bytes: a stream of many large pages must not keep them all. Past the budget the oldest
/// responses go first; a miss only costs a repeated request, as in the CDK, whose cache is
/// bounded too.
actor ResponseCache {
    /// Bytes of bodies kept at once, per read.
    static let defaultBudget = 64 << 20

    private let budget: Int
    private var responses: [String: HTTPResponseData] = [:]
    /// Keys in the order they were stored, for eviction.
    private var order: [String] = []
    private var bytes = 0

    init(budget: Int = defaultBudget) { self.budget = budget }

    func response(for key: String) -> HTTPResponseData? { responses[key] }

    func store(_ response: HTTPResponseData, for key: String) {
        // A response larger than the whole budget is not worth evicting everything for.
        guard response.body.count <= budget else { return }
        if let previous = responses.updateValue(response, forKey: key) {
            bytes -= previous.body.count
            order.removeAll { $0 == key }
        }
        order.append(key)
        bytes += response.body.count
        var evicted = 0
        while bytes > budget, evicted < order.count {
            let oldest = order[evicted]
            bytes -= responses.removeValue(forKey: oldest)?.body.count ?? 0
            evicted += 1
        }
        order.removeFirst(evicted)
    }

    /// Bytes held, for tests.
    var heldBytes: Int { bytes }
}
