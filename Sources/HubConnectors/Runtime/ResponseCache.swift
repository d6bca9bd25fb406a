/// Successful GET responses by URL, for one read.
actor ResponseCache {
    private var responses: [String: HTTPResponseData] = [:]

    func response(for key: String) -> HTTPResponseData? { responses[key] }

    func store(_ response: HTTPResponseData, for key: String) { responses[key] = response }
}
