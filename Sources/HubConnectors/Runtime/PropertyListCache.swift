/// The property lists a read fetched from endpoints (`PropertiesFromEndpoint`), by the stream
/// they serve: fetched once per read, as the CDK caches them on the component.
actor PropertyListCache {
    private var lists: [String: [String]] = [:]

    func list(for stream: String) -> [String]? { lists[stream] }

    func store(_ list: [String], for stream: String) { lists[stream] = list }
}
