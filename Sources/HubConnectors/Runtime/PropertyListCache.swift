/// The property lists a read fetched from endpoints (`PropertiesFromEndpoint`), by the
/// component's manifest path: fetched once per read, as the CDK caches them on the component.
actor PropertyListCache {
    private var lists: [String: [String]] = [:]

    func list(for key: String) -> [String]? { lists[key] }

    func store(_ list: [String], for key: String) { lists[key] = list }
}
